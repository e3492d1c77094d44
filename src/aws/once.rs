//! Things done once however many containers would do them, remembered in the snapshot
//! table under keys of their own (`document/...`), each kept a month.

use crate::ports::BoxError;

/// Whether this caller is the first to tell the operator that the document `etag` was
/// refused: a conditional put of `document/told/<etag>` in the snapshot table, kept 30
/// days, so however many containers read the refused document, the operator hears once.
pub async fn first_to_tell(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
    etag: &str,
    now_s: i64,
) -> Result<bool, BoxError> {
    use aws_sdk_dynamodb::types::AttributeValue;
    const MONTH_S: i64 = 30 * 24 * 3600;
    let result = client
        .put_item()
        .table_name(table)
        .item(
            super::dynamodb::KEY,
            AttributeValue::S(format!("document/told/{}", etag.trim_matches('"'))),
        )
        .item(
            super::dynamodb::EXPIRES_AT,
            AttributeValue::N((now_s + MONTH_S).to_string()),
        )
        .condition_expression("attribute_not_exists(#k)")
        .expression_attribute_names("#k", super::dynamodb::KEY)
        .send()
        .await;
    match result {
        Ok(_) => Ok(true),
        Err(error)
            if error
                .as_service_error()
                .is_some_and(aws_sdk_dynamodb::operation::put_item::PutItemError::is_conditional_check_failed_exception) =>
        {
            Ok(false)
        }
        Err(error) => Err(super::describe(&error)),
    }
}
