//! `Platform`: the os/architecture/variant triple an image or a build step targets, parsed
//! and normalized the way containerd's `platforms` package does (`x86_64` is `amd64`,
//! `aarch64` is `arm64`, `arm64/v8` is plain `arm64`).
//!
//! It does not know which platforms the machine can run (that is the sandbox's business).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Platform {
    pub os: String,
    pub architecture: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PlatformError {
    #[error("invalid platform {0:?}: expected os/arch[/variant], e.g. linux/amd64")]
    Malformed(String),
    #[error("unsupported platform {0:?}: only linux images can be built")]
    UnsupportedOs(String),
}

impl Platform {
    /// Builds a normalized platform from its parts.
    pub fn new(os: &str, architecture: &str, variant: Option<&str>) -> Platform {
        let (architecture, variant) = normalize_arch(architecture, variant.unwrap_or(""));
        Platform {
            os: os.to_ascii_lowercase(),
            architecture,
            variant: if variant.is_empty() {
                None
            } else {
                Some(variant)
            },
        }
    }

    /// The platform this process runs on.
    pub fn host() -> Platform {
        let arch = match std::env::consts::ARCH {
            "x86_64" => "amd64",
            "aarch64" => "arm64",
            "arm" => "arm",
            "x86" => "386",
            "powerpc64" => "ppc64le",
            "s390x" => "s390x",
            "riscv64" => "riscv64",
            other => other,
        };
        Platform::new("linux", arch, None)
    }

    /// True when an image made for `self` satisfies a request for `wanted`: same os and
    /// architecture, and the same variant once both are normalized.
    pub fn satisfies(&self, wanted: &Platform) -> bool {
        self.os == wanted.os
            && self.architecture == wanted.architecture
            && (wanted.variant.is_none() || self.variant == wanted.variant)
    }

    /// `os/arch` or `os/arch/variant`, the form `--platform` takes.
    pub fn to_spec(&self) -> String {
        self.to_string()
    }
}

fn normalize_arch(arch: &str, variant: &str) -> (String, String) {
    let arch = arch.to_ascii_lowercase();
    let variant = variant.to_ascii_lowercase();
    match arch.as_str() {
        "x86_64" | "x86-64" | "amd64" => (
            "amd64".into(),
            if variant == "v1" {
                String::new()
            } else {
                variant
            },
        ),
        "i386" | "386" => ("386".into(), String::new()),
        "aarch64" | "arm64" => match variant.as_str() {
            "8" | "v8" | "v8.0" => ("arm64".into(), String::new()),
            _ => ("arm64".into(), variant),
        },
        "armhf" => ("arm".into(), "v7".into()),
        "armel" => ("arm".into(), "v6".into()),
        "arm" => match variant.as_str() {
            "" | "7" => ("arm".into(), "v7".into()),
            "5" | "6" | "8" => ("arm".into(), format!("v{variant}")),
            _ => ("arm".into(), variant),
        },
        _ => (arch, variant),
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(variant) = &self.variant {
            write!(f, "/{variant}")?;
        }
        Ok(())
    }
}

impl FromStr for Platform {
    type Err = PlatformError;
    fn from_str(spec: &str) -> Result<Self, Self::Err> {
        let parts: Vec<&str> = spec.trim().split('/').collect();
        if parts.iter().any(|p| p.is_empty()) {
            return Err(PlatformError::Malformed(spec.to_string()));
        }
        let platform = match parts.as_slice() {
            [arch] => Platform::new("linux", arch, None),
            [os, arch] => Platform::new(os, arch, None),
            [os, arch, variant] => Platform::new(os, arch, Some(variant)),
            _ => return Err(PlatformError::Malformed(spec.to_string())),
        };
        if platform.os != "linux" {
            return Err(PlatformError::UnsupportedOs(spec.to_string()));
        }
        Ok(platform)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aliases_normalize() {
        let p: Platform = "linux/aarch64".parse().unwrap();
        assert_eq!(p.to_string(), "linux/arm64");
        let p: Platform = "linux/arm64/v8".parse().unwrap();
        assert_eq!(p.to_string(), "linux/arm64");
        let p: Platform = "linux/x86_64".parse().unwrap();
        assert_eq!(p.to_string(), "linux/amd64");
        let p: Platform = "linux/arm".parse().unwrap();
        assert_eq!(p.to_string(), "linux/arm/v7");
    }

    #[test]
    fn malformed_and_foreign_os_are_rejected() {
        assert!("linux/".parse::<Platform>().is_err());
        assert!("a/b/c/d".parse::<Platform>().is_err());
        assert!(matches!(
            "windows/amd64".parse::<Platform>(),
            Err(PlatformError::UnsupportedOs(_))
        ));
    }

    #[test]
    fn satisfies_ignores_missing_variant_in_request() {
        let image = Platform::new("linux", "arm", Some("v7"));
        assert!(image.satisfies(&Platform::new("linux", "arm", Some("v7"))));
        assert!(!image.satisfies(&Platform::new("linux", "arm", Some("v6"))));
        assert!(!image.satisfies(&Platform::new("linux", "amd64", None)));
    }
}
