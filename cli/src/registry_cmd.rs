//! `rbuild pull`, `rbuild push`, `rbuild login` and `rbuild logout`: the registry commands
//! from the course material. The protocol is `rbuild_registry`'s and what to send the
//! engine's; this module turns arguments into calls and words the results. Secrets are
//! read from stdin or the terminal and never printed.

use std::io::{self, BufRead, IsTerminal, Write};

use anyhow::{bail, Context, Result};
use rbuild_cache::Store;
use rbuild_oci::{ImageReference, Platform};
use rbuild_registry::{
    Credential, CredentialStore, PushSummary, RegistryClient, RegistrySettings, Scope,
};

use crate::args::{LoginArgs, PullArgs, PushArgs};
use crate::image_lookup;

pub fn pull(store: &Store, args: &PullArgs) -> Result<()> {
    let reference = ImageReference::parse(&args.image)
        .with_context(|| format!("invalid reference {:?}", args.image))?;
    let platforms = match &args.platform {
        Some(spec) => Platform::parse_list(spec).context("--platform")?,
        None => vec![Platform::host()],
    };
    for platform in &platforms {
        let summary =
            rbuild_engine::pull(store, &reference, platform).map_err(|e| anyhow::anyhow!("{e}"))?;
        println!(
            "Pulled {} ({platform}) from {}: {} layers fetched, {} already stored",
            reference.familiar(),
            summary.endpoint,
            summary.layers_fetched,
            summary.layers_present
        );
        println!("Digest: {}", summary.manifest.digest());
    }
    Ok(())
}

pub fn push(store: &Store, args: &PushArgs) -> Result<()> {
    let image = image_lookup::find(store, &args.image)?;
    let destination = ImageReference::parse(&args.image)
        .with_context(|| format!("invalid reference {:?}", args.image))?;
    let summary = rbuild_engine::push(store, &image.target, &destination)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    println!("{}", push_line(&destination, &summary));
    Ok(())
}

/// One line saying what a push sent.
pub fn push_line(destination: &ImageReference, summary: &PushSummary) -> String {
    let digest = summary
        .digest
        .as_ref()
        .map(ToString::to_string)
        .unwrap_or_default();
    format!(
        "pushed {} {digest}: {} blobs uploaded, {} mounted, {} already present",
        destination.familiar(),
        summary.uploaded,
        summary.mounted,
        summary.skipped
    )
}

pub fn login(store: &Store, args: &LoginArgs) -> Result<()> {
    let registry = registry_name(&args.registry);
    let username = match &args.username {
        Some(name) => name.clone(),
        None => prompt("Username: ")?,
    };
    let password = if args.password_stdin {
        let mut line = String::new();
        io::stdin()
            .lock()
            .read_line(&mut line)
            .context("cannot read the password from stdin")?;
        line.trim_end_matches(['\n', '\r']).to_string()
    } else {
        prompt("Password: ")?
    };
    if password.is_empty() {
        bail!("{registry}: an empty password");
    }
    let credential = Credential { username, password };
    let settings = RegistrySettings::load(store.root())?;
    let client = RegistryClient::connect(
        &settings,
        &registry,
        &registry,
        Some(credential.clone()),
        &registry,
    )?;
    client.verify_login(&Scope(Vec::new()))?;
    let mut credentials = CredentialStore::open_default()?;
    credentials.store(&registry, &credential)?;
    println!(
        "Login Succeeded (credentials in {})",
        credentials.path().display()
    );
    Ok(())
}

pub fn logout(registry: &str) -> Result<()> {
    let registry = registry_name(registry);
    let mut credentials = CredentialStore::open_default()?;
    if credentials.erase(&registry)? {
        println!("Removing login credentials for {registry}");
    } else {
        println!("Not logged in to {registry}");
    }
    Ok(())
}

/// `docker.io` for Docker Hub's spellings; a host otherwise.
fn registry_name(text: &str) -> String {
    let bare = text
        .strip_prefix("https://")
        .or_else(|| text.strip_prefix("http://"))
        .unwrap_or(text);
    let host = bare.split('/').next().unwrap_or(bare);
    match host {
        "index.docker.io" | "registry-1.docker.io" => "docker.io".to_string(),
        other => other.to_string(),
    }
}

fn prompt(label: &str) -> Result<String> {
    if !io::stdin().is_terminal() {
        bail!("no terminal to ask for it: use -u USER and --password-stdin");
    }
    eprint!("{label}");
    io::stderr().flush().ok();
    let mut line = String::new();
    io::stdin().lock().read_line(&mut line)?;
    Ok(line.trim_end_matches(['\n', '\r']).to_string())
}
