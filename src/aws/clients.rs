//! SDK configurations per account and region, each built once and reused across ticks.
//!
//! The home account and region use the function's own credentials. Another region of
//! the home account uses them too, in that region. Another account is read through the
//! role `ASSUME_ROLE_NAME` (default `pipewatch-reader`, shipped as
//! `templates/reader-role.yaml`) assumed there with STS `AssumeRole`, and an external id
//! when one is configured; the SDK's identity cache keeps the role's credentials and
//! refreshes them before they expire.

use std::collections::HashMap;
use std::sync::Arc;

use aws_config::sts::AssumeRoleProvider;
use aws_config::{Region, SdkConfig};
use aws_credential_types::provider::SharedCredentialsProvider;
use tokio::sync::Mutex;

use pipewatch_core::pipeline::Location;

use crate::config::RoleSettings;

/// SDK configurations by place, the home one given.
#[derive(Debug)]
pub struct Clients {
    home: SdkConfig,
    /// The home account, to tell which locations need a role. Unknown: every located
    /// pipeline is read through a role.
    home_account: Option<String>,
    role: RoleSettings,
    configs: Mutex<HashMap<Location, Arc<SdkConfig>>>,
}

impl Clients {
    pub fn new(home: SdkConfig, home_account: Option<String>, role: RoleSettings) -> Self {
        Self {
            home,
            home_account,
            role,
            configs: Mutex::new(HashMap::new()),
        }
    }

    /// The configuration for the home account and region.
    pub fn home(&self) -> &SdkConfig {
        &self.home
    }

    /// The configuration for `location` (the home one for `None`), built on first use.
    pub async fn config(&self, location: Option<&Location>) -> Arc<SdkConfig> {
        let Some(location) = location else {
            return Arc::new(self.home.clone());
        };
        let mut configs = self.configs.lock().await;
        if let Some(config) = configs.get(location) {
            return Arc::clone(config);
        }
        let region = Region::new(location.region.clone());
        let mut builder = self.home.to_builder();
        builder.set_region(Some(region.clone()));
        if self.home_account.as_deref() != Some(location.account.as_str()) {
            let role_arn = format!(
                "arn:{}:iam::{}:role/{}",
                location.partition, location.account, self.role.name
            );
            let mut provider = AssumeRoleProvider::builder(role_arn)
                .session_name("pipewatch")
                .region(region)
                .configure(&self.home);
            if let Some(external_id) = &self.role.external_id {
                provider = provider.external_id(external_id);
            }
            let provider = provider.build().await;
            builder.set_credentials_provider(Some(SharedCredentialsProvider::new(provider)));
        }
        let config = Arc::new(builder.build());
        configs.insert(location.clone(), Arc::clone(&config));
        config
    }
}
