//! Legal holds across a prefix: set, release (only when confirmed) and status, on every object
//! version under the prefix, each reported with the state read back from the store.

use serde::Serialize;

use crate::store::{ImmutableStore, StoreError};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum HoldAction {
    Set,
    Release,
    Status,
}

#[derive(Debug, Clone, Serialize)]
pub struct HoldResult {
    pub key: String,
    pub version_id: Option<String>,
    /// The hold as read back from the store after the action.
    pub legal_hold: Option<bool>,
    pub ok: bool,
    pub error: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct HoldReport {
    pub target: String,
    pub prefix: String,
    pub action: HoldAction,
    pub case_id: Option<String>,
    pub reason: Option<String>,
    pub objects: Vec<HoldResult>,
    pub ok: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum HoldError {
    #[error(
        "releasing a legal hold needs explicit confirmation (--confirm-release); it makes the objects deletable once their retention ends"
    )]
    ReleaseNotConfirmed,
    #[error("no objects under {prefix} in {target}")]
    NothingThere { target: String, prefix: String },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Apply `action` to every object version under `prefix`.
pub async fn apply(
    store: &dyn ImmutableStore,
    prefix: &str,
    action: HoldAction,
    case_id: Option<&str>,
    reason: Option<&str>,
    release_confirmed: bool,
) -> Result<HoldReport, HoldError> {
    if action == HoldAction::Release && !release_confirmed {
        return Err(HoldError::ReleaseNotConfirmed);
    }
    let listing = store.list(prefix).await?;
    if listing.is_empty() {
        return Err(HoldError::NothingThere {
            target: store.target().to_string(),
            prefix: prefix.to_string(),
        });
    }
    let mut objects = Vec::with_capacity(listing.len());
    for object in listing {
        let result = match action {
            HoldAction::Status => Ok(object.legal_hold),
            HoldAction::Set | HoldAction::Release => {
                let wanted = action == HoldAction::Set;
                match store
                    .set_legal_hold(&object.key, object.version_id.as_deref(), wanted)
                    .await
                {
                    Ok(state) if state.legal_hold == Some(wanted) => Ok(state.legal_hold),
                    Ok(state) => Err(format!(
                        "store reports legal hold {:?} after the request",
                        state.legal_hold
                    )),
                    Err(e) => Err(e.to_string()),
                }
            }
        };
        objects.push(match result {
            Ok(hold) => HoldResult {
                key: object.key,
                version_id: object.version_id,
                legal_hold: hold,
                ok: true,
                error: None,
            },
            Err(error) => HoldResult {
                key: object.key,
                version_id: object.version_id,
                legal_hold: None,
                ok: false,
                error: Some(error),
            },
        });
    }
    let ok = objects.iter().all(|o| o.ok);
    Ok(HoldReport {
        target: store.target().to_string(),
        prefix: prefix.to_string(),
        action,
        case_id: case_id.map(str::to_string),
        reason: reason.map(str::to_string),
        objects,
        ok,
    })
}

impl HoldReport {
    /// The audit-log record of a hold change (`legal_hold.set` / `legal_hold.released`), naming
    /// the case, the reason and every object version with the state read back.
    pub fn audit_record(&self, actor: &str) -> Option<crate::audit::NewRecord> {
        let (event_type, action, decision) = match self.action {
            HoldAction::Set => (
                "legal_hold.set",
                "legal_hold_set",
                if self.ok {
                    "applied"
                } else {
                    "partially_applied"
                },
            ),
            HoldAction::Release => (
                "legal_hold.released",
                "legal_hold_release",
                if self.ok {
                    "released"
                } else {
                    "partially_released"
                },
            ),
            HoldAction::Status => return None,
        };
        let mut metadata = serde_json::Map::new();
        metadata.insert("case_id".into(), self.case_id.clone().into());
        metadata.insert("reason".into(), self.reason.clone().into());
        metadata.insert(
            "objects".into(),
            self.objects
                .iter()
                .map(|o| serde_json::json!({"key": o.key, "version_id": o.version_id, "legal_hold": o.legal_hold, "error": o.error}))
                .collect::<Vec<_>>()
                .into(),
        );
        Some(crate::audit::NewRecord {
            event_type: event_type.into(),
            actor: actor.into(),
            action: action.into(),
            target: format!("{}#{}", self.target, self.prefix),
            decision: decision.into(),
            evidence_refs: self.case_id.iter().map(|c| format!("case:{c}")).collect(),
            metadata,
            ..Default::default()
        })
    }
}
