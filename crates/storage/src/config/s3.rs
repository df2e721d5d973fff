//! `storage.s3`: an S3-compatible object store (AWS S3, MinIO, s3s, R2, ...).

use std::path::PathBuf;

use object_store::aws::{AmazonS3, AmazonS3Builder};
use serde::{Deserialize, Serialize};

use crate::StorageError;

/// The `storage.s3` block. Empty strings mean "not set": credentials, region and endpoint then
/// come from the standard AWS environment (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`,
/// `AWS_REGION`, `AWS_ENDPOINT`, ...); what is set here overrides the environment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct S3Config {
    /// `http(s)://host:port` of an S3-compatible server; empty for AWS itself.
    pub endpoint: String,
    /// Bucket holding all objects; required.
    pub bucket: String,
    /// Region used to sign requests, default `us-east-1`; set it to "" to take `AWS_REGION`.
    pub region: String,
    pub access_key_id: String,
    pub secret_access_key: String,
    /// File holding the secret access key (trailing newline ignored), read at startup.
    /// Exclusive with `secret_access_key`.
    pub secret_access_key_file: String,
    /// `endpoint/bucket/key` instead of `bucket.endpoint/key`; true for MinIO and s3s.
    pub path_style: bool,
    /// Permit plain-HTTP endpoints; implied by an `endpoint` starting with `http://`.
    pub allow_http: bool,
}

impl Default for S3Config {
    fn default() -> Self {
        S3Config {
            endpoint: String::new(),
            bucket: String::new(),
            region: "us-east-1".to_string(),
            access_key_id: String::new(),
            secret_access_key: String::new(),
            secret_access_key_file: String::new(),
            path_style: false,
            allow_http: false,
        }
    }
}

impl S3Config {
    /// Builds the store; reads `secret_access_key_file` now.
    pub fn build(&self) -> Result<AmazonS3, StorageError> {
        install_tls_provider();
        self.builder()?.build().map_err(StorageError::from)
    }

    /// The builder: the AWS environment first, then every non-empty setting of this block.
    fn builder(&self) -> Result<AmazonS3Builder, StorageError> {
        self.builder_over(AmazonS3Builder::from_env())
    }

    fn builder_over(&self, mut builder: AmazonS3Builder) -> Result<AmazonS3Builder, StorageError> {
        if self.bucket.is_empty() {
            return Err(StorageError::Config(
                "storage.s3.bucket must be set when storage.backend is s3".to_string(),
            ));
        }
        builder = builder
            .with_bucket_name(&self.bucket)
            .with_virtual_hosted_style_request(!self.path_style);
        if !self.endpoint.is_empty() {
            builder = builder.with_endpoint(&self.endpoint);
        }
        if self.allow_http || self.endpoint.starts_with("http://") {
            builder = builder.with_allow_http(true);
        }
        if !self.region.is_empty() {
            builder = builder.with_region(&self.region);
        }
        if !self.access_key_id.is_empty() {
            builder = builder.with_access_key_id(&self.access_key_id);
        }
        if let Some(secret) = self.secret()? {
            builder = builder.with_secret_access_key(secret);
        }
        Ok(builder)
    }

    /// The secret set inline or in `secret_access_key_file`, if any.
    fn secret(&self) -> Result<Option<String>, StorageError> {
        match (
            self.secret_access_key.is_empty(),
            self.secret_access_key_file.is_empty(),
        ) {
            (true, true) => Ok(None),
            (false, true) => Ok(Some(self.secret_access_key.clone())),
            (true, false) => {
                let path = PathBuf::from(&self.secret_access_key_file);
                let text = std::fs::read_to_string(&path)
                    .map_err(|source| StorageError::ReadSecret { path, source })?;
                let secret = text.trim_end_matches(['\r', '\n']);
                if secret.is_empty() {
                    return Err(StorageError::Config(format!(
                        "storage.s3.secret_access_key_file {} is empty",
                        self.secret_access_key_file
                    )));
                }
                Ok(Some(secret.to_string()))
            }
            (false, false) => Err(StorageError::Config(
                "storage.s3.secret_access_key and storage.s3.secret_access_key_file are exclusive"
                    .to_string(),
            )),
        }
    }
}

/// reqwest is built without a bundled TLS crypto provider (see Cargo.toml): make rustls' `ring`
/// the process default, unless something else installed one first.
fn install_tls_provider() {
    // An `Err` means a provider is already installed, which is all that is needed.
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// Referenced so the dependency that only selects reqwest's TLS features counts as used.
use object_store_reqwest as _;

#[cfg(test)]
mod tests {
    use std::io::Write;

    use object_store::aws::AmazonS3ConfigKey;
    use object_store::ClientConfigKey;

    use super::*;
    use crate::StorageConfig;

    fn with_bucket() -> S3Config {
        S3Config {
            bucket: "blocks".to_string(),
            ..S3Config::default()
        }
    }

    #[test]
    fn yaml_with_defaults() {
        let c: StorageConfig = serde_yaml::from_str(
            "backend: s3\ns3:\n  bucket: blocks\n  endpoint: http://minio:9000\n",
        )
        .unwrap();
        assert_eq!(c.backend, crate::Backend::S3);
        let want = S3Config {
            endpoint: "http://minio:9000".to_string(),
            bucket: "blocks".to_string(),
            region: "us-east-1".to_string(),
            ..S3Config::default()
        };
        assert_eq!(c.s3, want);
        assert!(!c.s3.path_style && !c.s3.allow_http);
        assert!(serde_yaml::from_str::<StorageConfig>("s3: {bucket: b, secret: x}\n").is_err());
    }

    #[test]
    fn missing_bucket_names_the_yaml_path() {
        let config = StorageConfig {
            backend: crate::Backend::S3,
            ..StorageConfig::default()
        };
        let err = crate::object_store(&config).unwrap_err();
        assert!(matches!(err, StorageError::Config(_)), "{err}");
        assert_eq!(
            err.to_string(),
            "invalid config: storage.s3.bucket must be set when storage.backend is s3"
        );
    }

    #[test]
    fn settings_override_the_environment() {
        let env = AmazonS3Builder::new()
            .with_region("eu-west-1")
            .with_access_key_id("env-key")
            .with_endpoint("http://env:1");
        let c = S3Config {
            endpoint: "http://127.0.0.1:9000".to_string(),
            access_key_id: "cfg-key".to_string(),
            secret_access_key: "cfg-secret".to_string(),
            path_style: true,
            ..with_bucket()
        };
        let b = c.builder_over(env.clone()).unwrap();
        let get = |b: &AmazonS3Builder, key| b.get_config_value(&key);
        assert_eq!(
            get(&b, AmazonS3ConfigKey::Bucket).as_deref(),
            Some("blocks")
        );
        assert_eq!(
            get(&b, AmazonS3ConfigKey::Region).as_deref(),
            Some("us-east-1")
        );
        assert_eq!(
            get(&b, AmazonS3ConfigKey::AccessKeyId).as_deref(),
            Some("cfg-key")
        );
        assert_eq!(
            get(&b, AmazonS3ConfigKey::SecretAccessKey).as_deref(),
            Some("cfg-secret")
        );
        assert_eq!(
            get(&b, AmazonS3ConfigKey::Endpoint).as_deref(),
            Some("http://127.0.0.1:9000")
        );
        assert_eq!(
            get(&b, AmazonS3ConfigKey::VirtualHostedStyleRequest).as_deref(),
            Some("false")
        );
        let allow_http = AmazonS3ConfigKey::Client(ClientConfigKey::AllowHttp);
        assert_eq!(
            get(&b, allow_http).as_deref(),
            Some("true"),
            "implied by http://"
        );

        let empty = S3Config {
            region: String::new(),
            ..with_bucket()
        };
        let b = empty.builder_over(env).unwrap();
        assert_eq!(
            get(&b, AmazonS3ConfigKey::Region).as_deref(),
            Some("eu-west-1")
        );
        assert_eq!(
            get(&b, AmazonS3ConfigKey::AccessKeyId).as_deref(),
            Some("env-key")
        );
        assert_eq!(
            get(&b, AmazonS3ConfigKey::Endpoint).as_deref(),
            Some("http://env:1")
        );
        assert_eq!(get(&b, allow_http).as_deref(), Some("false"));
    }

    #[test]
    fn secret_from_file() {
        let mut file = tempfile::NamedTempFile::new().unwrap();
        writeln!(file, "s3cr3t").unwrap();
        let c = S3Config {
            secret_access_key_file: file.path().display().to_string(),
            ..with_bucket()
        };
        assert_eq!(c.secret().unwrap().as_deref(), Some("s3cr3t"));

        let missing = S3Config {
            secret_access_key_file: "/nonexistent/secret".to_string(),
            ..with_bucket()
        };
        assert!(matches!(
            missing.build(),
            Err(StorageError::ReadSecret { .. })
        ));
        let both = S3Config {
            secret_access_key: "x".to_string(),
            ..c
        };
        assert!(matches!(both.build(), Err(StorageError::Config(_))));
    }
}
