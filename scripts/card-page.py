"""An HTML page that renders one Teams message's Adaptive Card with Microsoft's renderer.

    python3 scripts/card-page.py CARD.json adaptivecards.min.js markdown-it.min.js > page.html

The host configuration is Teams' light theme as far as the card needs it (fonts, colours,
spacing), and TextBlocks' Markdown is rendered with markdown-it, as Microsoft's renderer
asks its host to; the renderer itself is Microsoft's, unchanged.
"""
import json
import sys

message = json.load(open(sys.argv[1]))
card = message["attachments"][0]["content"]
script = open(sys.argv[2]).read()
markdown = open(sys.argv[3]).read()

HOST = {
    "fontFamily": "Segoe UI, Helvetica Neue, Arial, sans-serif",
    "supportsInteractivity": True,
    "spacing": {"small": 4, "default": 8, "medium": 16, "large": 20, "extraLarge": 24, "padding": 16},
    "separator": {"lineThickness": 1, "lineColor": "#EEEEEE"},
    "fontSizes": {"small": 12, "default": 14, "medium": 16, "large": 18, "extraLarge": 24},
    "fontWeights": {"lighter": 200, "default": 400, "bolder": 600},
    "containerStyles": {
        "default": {
            "backgroundColor": "#FFFFFF",
            "foregroundColors": {
                "default": {"default": "#242424", "subtle": "#616161"},
                "accent": {"default": "#5B5FC7", "subtle": "#5B5FC7"},
                "good": {"default": "#237B4B", "subtle": "#237B4B"},
                "warning": {"default": "#A16114", "subtle": "#A16114"},
                "attention": {"default": "#C4314B", "subtle": "#C4314B"},
            },
        }
    },
    "actions": {
        "maxActions": 6,
        "buttonSpacing": 8,
        "showCard": {"actionMode": "inline"},
        "actionsOrientation": "horizontal",
        "actionAlignment": "left",
    },
    "factSet": {
        "title": {"weight": "bolder", "wrap": True, "maxWidth": 150},
        "value": {"wrap": True},
        "spacing": 8,
    },
}

print(f"""<!doctype html>
<html><head><meta charset="utf-8">
<style>
  body {{ margin: 0; padding: 20px; background: #F5F5F5;
          font-family: Segoe UI, Helvetica Neue, Arial, sans-serif, Noto Color Emoji; }}
  #card a {{ color: #5B5FC7; text-decoration: none; }}
  #card {{ width: 560px; background: #FFFFFF; border-radius: 6px;
           box-shadow: 0 1px 3px rgba(0,0,0,.2); overflow: hidden; }}
  .ac-pushButton {{ font: 600 14px Segoe UI, Helvetica Neue, Arial, sans-serif;
                    padding: 5px 12px; border: 1px solid #D1D1D1; border-radius: 4px;
                    background: #FFFFFF; color: #242424; }}
</style>
<script>{markdown}</script>
<script>{script}</script>
</head><body><div id="card"></div>
<script>
  const md = window.markdownit();
  AdaptiveCards.AdaptiveCard.onProcessMarkdown = (text, result) => {{
    result.outputHtml = md.renderInline(text);
    result.didProcess = true;
  }};
  const card = new AdaptiveCards.AdaptiveCard();
  card.hostConfig = new AdaptiveCards.HostConfig({json.dumps(HOST)});
  card.parse({json.dumps(card)});
  document.getElementById("card").appendChild(card.render());
</script></body></html>""")
