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
    #[error(
        "unknown platform {0:?}: expected local or linux/ARCH[/VARIANT] with ARCH one of {known}",
        known = KNOWN_ARCHITECTURES.join(", ")
    )]
    UnknownArchitecture(String),
}

/// Architectures `--platform` accepts (after normalization), as containerd knows them.
pub const KNOWN_ARCHITECTURES: [&str; 10] = [
    "amd64", "arm64", "arm", "386", "riscv64", "ppc64le", "s390x", "mips64le", "loong64", "wasm",
];

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

    /// The variant written into image configs and index entries: the normalized variant,
    /// except that 64-bit ARM says `v8` as the official images and BuildKit write it
    /// (normalization compares `arm64` and `arm64/v8` as equal).
    pub fn image_variant(&self) -> Option<String> {
        match (self.architecture.as_str(), &self.variant) {
            ("arm64", None) => Some("v8".to_string()),
            (_, variant) => variant.clone(),
        }
    }

    /// Parses a `--platform` list: comma-separated `os/arch[/variant]` specs (aliases
    /// normalized) or `local` for this machine; duplicates are dropped, order kept.
    pub fn parse_list(specs: &str) -> Result<Vec<Platform>, PlatformError> {
        let mut platforms: Vec<Platform> = Vec::new();
        for spec in specs.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let platform = if spec == "local" {
                Platform::host()
            } else {
                spec.parse()?
            };
            if !KNOWN_ARCHITECTURES.contains(&platform.architecture.as_str()) {
                return Err(PlatformError::UnknownArchitecture(spec.to_string()));
            }
            if !platforms.contains(&platform) {
                platforms.push(platform);
            }
        }
        if platforms.is_empty() {
            return Err(PlatformError::Malformed(specs.to_string()));
        }
        Ok(platforms)
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
    fn platform_lists_normalize_and_reject_unknown_architectures() {
        let list =
            Platform::parse_list("linux/amd64, linux/arm64/v8,linux/aarch64,x86_64").unwrap();
        let specs: Vec<String> = list.iter().map(Platform::to_string).collect();
        assert_eq!(specs, ["linux/amd64", "linux/arm64"]);
        assert_eq!(Platform::parse_list("local").unwrap(), [Platform::host()]);
        let arm: Vec<String> = Platform::parse_list("linux/arm/v7,linux/riscv64")
            .unwrap()
            .iter()
            .map(Platform::to_string)
            .collect();
        assert_eq!(arm, ["linux/arm/v7", "linux/riscv64"]);
        let error = Platform::parse_list("linux/amd64,linux/sparc9").unwrap_err();
        assert!(error.to_string().contains("arm64"), "{error}");
        assert!(Platform::parse_list(",").is_err());
        assert!(Platform::parse_list("linux//amd64").is_err());
    }

    #[test]
    fn arm64_images_say_v8() {
        let arm64: Platform = "linux/arm64".parse().unwrap();
        assert_eq!(arm64.image_variant().as_deref(), Some("v8"));
        assert_eq!(Platform::new("linux", "amd64", None).image_variant(), None);
        assert_eq!(
            Platform::new("linux", "arm", None)
                .image_variant()
                .as_deref(),
            Some("v7")
        );
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
