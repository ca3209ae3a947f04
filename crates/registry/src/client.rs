//! `RegistryClient`: one endpoint of one registry, speaking the distribution API with
//! authentication answered on demand. A 401 carries a challenge: `Basic` is answered with
//! the stored credential, `Bearer` with a token fetched from the realm for the request's
//! scopes (with the credential, when there is one); tokens are remembered per scope.
//!
//! The scheme is found by a ping of `/v2/`: HTTPS first, plain HTTP only where the settings
//! allow it (loopback, insecure registries).

use std::collections::HashMap;
use std::sync::Mutex;

use reqwest::blocking::{Client, RequestBuilder, Response};
use reqwest::header::{AUTHORIZATION, WWW_AUTHENTICATE};
use reqwest::{StatusCode, Url};

use crate::challenge::{parse_challenges, Challenge};
use rbuild_oci::ImageReference;

use crate::credentials::{Credential, CredentialStore};
use crate::error::RegistryError;
use crate::settings::RegistrySettings;

/// Token scopes a request needs, e.g. `repository:library/busybox:pull`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Scope(pub Vec<String>);

impl Scope {
    pub fn pull(repository: &str) -> Scope {
        Scope(vec![format!("repository:{repository}:pull")])
    }

    pub fn push(repository: &str) -> Scope {
        Scope(vec![format!("repository:{repository}:pull,push")])
    }
}

pub struct RegistryClient {
    http: Client,
    /// The registry's name as references spell it (`docker.io`, `127.0.0.1:5000`).
    registry: String,
    base: Url,
    credential: Option<Credential>,
    challenge: Mutex<Option<Challenge>>,
    authorizations: Mutex<HashMap<Scope, String>>,
    /// What messages name as the reference being worked on.
    reference: String,
}

impl RegistryClient {
    /// Connects to the registry `reference` names itself (no mirror), with the credential
    /// stored for it.
    pub fn for_reference(
        settings: &RegistrySettings,
        reference: &ImageReference,
    ) -> Result<RegistryClient, RegistryError> {
        let registry = reference.domain();
        let credential = CredentialStore::open_default()?.get(registry)?;
        RegistryClient::connect(
            settings,
            registry,
            registry,
            credential,
            &reference.to_string(),
        )
    }

    /// Connects to `host` (an endpoint of `registry`: itself or a mirror, optionally with
    /// an `http://` or `https://` prefix).
    pub fn connect(
        settings: &RegistrySettings,
        registry: &str,
        host: &str,
        credential: Option<Credential>,
        reference: &str,
    ) -> Result<RegistryClient, RegistryError> {
        let api_host = match host {
            "docker.io" | "index.docker.io" => "registry-1.docker.io",
            other => other,
        };
        let (schemes, bare): (Vec<&str>, &str) = if let Some(b) = api_host.strip_prefix("https://")
        {
            (vec!["https"], b)
        } else if let Some(b) = api_host.strip_prefix("http://") {
            (vec!["http"], b)
        } else if settings.allows_plain_http(registry, api_host) {
            (vec!["https", "http"], api_host)
        } else {
            (vec!["https"], api_host)
        };
        let bare = bare.trim_end_matches('/');
        let http = settings.http_client(registry, bare)?;
        let mut last = None;
        for scheme in schemes {
            let base = Url::parse(&format!("{scheme}://{bare}/")).map_err(|e| {
                RegistryError::Unreachable {
                    registry: registry.to_string(),
                    reference: reference.to_string(),
                    cause: format!("bad registry address {bare:?}: {e}"),
                }
            })?;
            let client = RegistryClient {
                http: http.clone(),
                registry: registry.to_string(),
                base,
                credential: credential.clone(),
                challenge: Mutex::new(None),
                authorizations: Mutex::new(HashMap::new()),
                reference: reference.to_string(),
            };
            match client.ping() {
                Ok(()) => return Ok(client),
                // The HTTPS failure says more (e.g. an unknown CA) than the fallback's.
                Err(e) => {
                    last.get_or_insert(e);
                }
            }
        }
        Err(last.unwrap_or_else(|| RegistryError::Unreachable {
            registry: registry.to_string(),
            reference: reference.to_string(),
            cause: "no scheme to try".to_string(),
        }))
    }

    pub fn registry(&self) -> &str {
        &self.registry
    }

    pub fn reference(&self) -> &str {
        &self.reference
    }

    /// `GET /v2/`: reachable, and which challenge it sends.
    fn ping(&self) -> Result<(), RegistryError> {
        let url = self.url("/v2/")?;
        let response = self
            .http
            .get(url)
            .send()
            .map_err(|e| self.unreachable(&e))?;
        match response.status() {
            StatusCode::UNAUTHORIZED => *lock(&self.challenge) = first_challenge(&response),
            status if status.is_success() => {}
            status => {
                return Err(RegistryError::Unreachable {
                    registry: self.registry.clone(),
                    reference: self.reference.clone(),
                    cause: format!(
                        "{} does not answer as a registry (HTTP {status})",
                        self.base
                    ),
                })
            }
        }
        Ok(())
    }

    pub fn url(&self, path: &str) -> Result<Url, RegistryError> {
        self.base
            .join(path)
            .map_err(|e| self.document(format!("bad URL {path}: {e}")))
    }

    /// Sends the request `make` builds, answering one authentication challenge. `make` is
    /// called again for the retry, so bodies must be re-creatable.
    pub fn send(
        &self,
        scope: &Scope,
        make: &mut dyn FnMut(&Client) -> Result<RequestBuilder, RegistryError>,
    ) -> Result<Response, RegistryError> {
        if lock(&self.authorizations).get(scope).is_none() {
            let known = lock(&self.challenge).clone();
            if let Some(challenge) = known {
                self.authorize(&challenge, scope)?;
            }
        }
        let response = self.send_once(scope, make)?;
        if response.status() != StatusCode::UNAUTHORIZED {
            return Ok(response);
        }
        let challenge = first_challenge(&response).ok_or_else(|| self.unauthorized())?;
        *lock(&self.challenge) = Some(challenge.clone());
        self.authorize(&challenge, scope)?;
        let response = self.send_once(scope, make)?;
        if response.status() == StatusCode::UNAUTHORIZED {
            return Err(self.unauthorized());
        }
        Ok(response)
    }

    fn send_once(
        &self,
        scope: &Scope,
        make: &mut dyn FnMut(&Client) -> Result<RequestBuilder, RegistryError>,
    ) -> Result<Response, RegistryError> {
        let mut request = make(&self.http)?;
        if let Some(value) = lock(&self.authorizations).get(scope) {
            request = request.header(AUTHORIZATION, value.as_str());
        }
        request.send().map_err(|e| self.unreachable(&e))
    }

    /// Works out the `Authorization` value for `scope` under `challenge`.
    fn authorize(&self, challenge: &Challenge, scope: &Scope) -> Result<(), RegistryError> {
        let value = match challenge.scheme.as_str() {
            "basic" => {
                let credential = self
                    .credential
                    .as_ref()
                    .ok_or_else(|| self.unauthorized())?;
                basic_value(credential)
            }
            "bearer" => format!("Bearer {}", self.fetch_token(challenge, scope)?),
            _ => return Err(self.unauthorized()),
        };
        lock(&self.authorizations).insert(scope.clone(), value);
        Ok(())
    }

    fn fetch_token(&self, challenge: &Challenge, scope: &Scope) -> Result<String, RegistryError> {
        let realm = challenge
            .param("realm")
            .ok_or_else(|| self.document("bearer challenge without realm".to_string()))?;
        let mut url = Url::parse(realm)
            .map_err(|e| self.document(format!("bad token realm {realm}: {e}")))?;
        {
            let mut query = url.query_pairs_mut();
            if let Some(service) = challenge.param("service") {
                query.append_pair("service", service);
            }
            for s in &scope.0 {
                query.append_pair("scope", s);
            }
        }
        let mut request = self.http.get(url);
        if let Some(credential) = &self.credential {
            request = request.basic_auth(&credential.username, Some(&credential.password));
        }
        let response = request.send().map_err(|e| self.unreachable(&e))?;
        match response.status() {
            s if s.is_success() => {}
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => return Err(self.unauthorized()),
            s => return Err(self.status("token request", s, String::new())),
        }
        let body: serde_json::Value = response
            .json()
            .map_err(|e| self.document(format!("unreadable token answer: {e}")))?;
        body.get("token")
            .or_else(|| body.get("access_token"))
            .and_then(|t| t.as_str())
            .map(str::to_string)
            .ok_or_else(|| self.document("token answer without a token".to_string()))
    }

    /// Turns an unexpected status into an error; 404 into `NotFound(what)`.
    pub fn check(&self, response: Response, what: &str) -> Result<Response, RegistryError> {
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        if status == StatusCode::NOT_FOUND {
            return Err(RegistryError::NotFound {
                registry: self.registry.clone(),
                reference: self.reference.clone(),
                what: what.to_string(),
            });
        }
        if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
            return Err(self.unauthorized());
        }
        let body = response.text().unwrap_or_default();
        let detail = error_detail(&body);
        Err(self.status(what, status, detail))
    }

    pub fn unreachable(&self, error: &reqwest::Error) -> RegistryError {
        let mut cause = error.to_string();
        let mut source = std::error::Error::source(error);
        while let Some(inner) = source {
            cause = format!("{cause}: {inner}");
            source = inner.source();
        }
        RegistryError::Unreachable {
            registry: self.registry.clone(),
            reference: self.reference.clone(),
            cause,
        }
    }

    fn unauthorized(&self) -> RegistryError {
        RegistryError::Unauthorized {
            registry: self.registry.clone(),
            reference: self.reference.clone(),
        }
    }

    fn status(&self, what: &str, status: StatusCode, detail: String) -> RegistryError {
        RegistryError::Status {
            registry: self.registry.clone(),
            reference: self.reference.clone(),
            what: what.to_string(),
            status: status.as_u16(),
            detail,
        }
    }

    pub fn document(&self, message: String) -> RegistryError {
        RegistryError::Document {
            registry: self.registry.clone(),
            reference: self.reference.clone(),
            message,
        }
    }
}

fn basic_value(credential: &Credential) -> String {
    use base64::Engine;
    let pair = format!("{}:{}", credential.username, credential.password);
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(pair)
    )
}

fn first_challenge(response: &Response) -> Option<Challenge> {
    response
        .headers()
        .get_all(WWW_AUTHENTICATE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(parse_challenges)
        .find(|c| c.scheme == "bearer" || c.scheme == "basic")
}

/// The registry's own message from an error body (`{"errors":[{"message":...}]}`).
fn error_detail(body: &str) -> String {
    let parsed: Option<serde_json::Value> = serde_json::from_str(body).ok();
    let messages: Vec<String> = parsed
        .as_ref()
        .and_then(|v| v.get("errors"))
        .and_then(|e| e.as_array())
        .map(|errors| {
            errors
                .iter()
                .filter_map(|e| e.get("message").and_then(|m| m.as_str()))
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    if messages.is_empty() {
        String::new()
    } else {
        format!(" ({})", messages.join("; "))
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl RegistryClient {
    /// Checks that the credential is accepted: `GET /v2/` answered with it (a token for no
    /// scope, where the registry uses tokens).
    pub fn verify_login(&self, scope: &Scope) -> Result<(), RegistryError> {
        let url = self.url("/v2/")?;
        let response = self.send(scope, &mut |http| Ok(http.get(url.clone())))?;
        self.check(response, "login").map(drop)
    }
}
