//! The JSON of `GET /ring/<name>?format=json`.

use serde::Deserialize;

/// The name of the metrics ingester ring.
pub const INGESTER_METRICS_RING: &str = "ingester-metrics";
/// The ring of the logs ingesters.
pub const INGESTER_LOGS_RING: &str = "ingester-logs";

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct RingDescription {
    pub name: String,
    pub instances: Vec<RingInstanceDescription>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct RingInstanceDescription {
    pub id: String,
    pub addr: String,
    pub zone: String,
    pub state: String,
    pub tokens: u64,
    pub heartbeat_ms: u64,
    pub healthy: bool,
}

impl RingDescription {
    /// How many instances are ACTIVE and healthy.
    pub fn active_healthy(&self) -> usize {
        self.instances
            .iter()
            .filter(|i| i.state == "ACTIVE" && i.healthy)
            .count()
    }

    pub fn instance(&self, id: &str) -> Option<&RingInstanceDescription> {
        self.instances.iter().find(|i| i.id == id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_documented_shape() {
        let json = r#"{"name":"ingester-metrics","instances":[
            {"id":"a","addr":"127.0.0.1:1","zone":"","state":"ACTIVE","tokens":128,"heartbeat_ms":123,"healthy":true},
            {"id":"b","addr":"127.0.0.1:2","zone":"z","state":"LEAVING","tokens":128,"heartbeat_ms":1,"healthy":true},
            {"id":"c","addr":"127.0.0.1:3","zone":"","state":"ACTIVE","tokens":128,"heartbeat_ms":9,"healthy":false}]}"#;
        let ring: RingDescription = serde_json::from_str(json).unwrap();
        assert_eq!(ring.name, INGESTER_METRICS_RING);
        assert_eq!(ring.instances.len(), 3);
        assert_eq!(ring.active_healthy(), 1);
        assert_eq!(ring.instance("b").map(|i| i.zone.as_str()), Some("z"));
    }
}
