//! GitHub's REST API, for approvals that fail closed: a job behind a GitHub
//! Environment checks that the environment really has required reviewers
//! (an environment that does not exist is created unprotected, and its
//! "approval" would pass untouched), and records the reviewer who approved
//! this run — not whoever started it.
//!
//! Endpoints (documented by GitHub): `GET /repos/{repo}/environments/{name}`
//! (`protection_rules[]` with `type: required_reviewers` and `reviewers`)
//! and `GET /repos/{repo}/actions/runs/{run_id}/approvals` (`[{state,
//! comment, environments: [{name}], user: {login}}]`). The base is
//! `GITHUB_API_URL` (set by GitHub, and by the tests to a local server).

use std::time::Duration;

/// Who approved a run's deployment to an environment, and what they said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvironmentApproval {
    pub login: String,
    pub comment: String,
    pub run_id: String,
}

/// What a job in GitHub Actions knows about itself.
struct Run {
    api: String,
    repository: String,
    run_id: String,
    token: Option<String>,
}

impl Run {
    fn from_env() -> Result<Run, String> {
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.trim().is_empty());
        let need = |k: &str| {
            var(k).ok_or_else(|| format!("{k} is not set: this runs inside a GitHub Actions job"))
        };
        Ok(Run {
            api: var("GITHUB_API_URL").unwrap_or_else(|| "https://api.github.com".into()),
            repository: need("GITHUB_REPOSITORY")?,
            run_id: need("GITHUB_RUN_ID")?,
            token: var("GITHUB_TOKEN"),
        })
    }

    fn get(&self, path: &str) -> Result<serde_json::Value, String> {
        let url = format!(
            "{}/repos/{}/{path}",
            self.api.trim_end_matches('/'),
            self.repository
        );
        let mut headers = vec![
            ("accept", "application/vnd.github+json".to_string()),
            ("x-github-api-version", "2022-11-28".to_string()),
            ("user-agent", "deploy-session".to_string()),
        ];
        if let Some(t) = &self.token {
            headers.push(("authorization", format!("Bearer {t}")));
        }
        crate::http::get_json(&url, &headers, Duration::from_secs(20))
            .map_err(|e| format!("GET {url}: {e}"))
    }
}

/// The approval of this run's deployment to `environment`: refused when
/// the environment has no required reviewers, or when no reviewer
/// approved this run for it.
pub fn environment_approval(environment: &str) -> Result<EnvironmentApproval, String> {
    let run = Run::from_env()?;
    let env = run.get(&format!("environments/{environment}"))?;
    let reviewers = env["protection_rules"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|r| r["type"] == "required_reviewers")
        .map(|r| r["reviewers"].as_array().map_or(0, Vec::len))
        .sum::<usize>();
    if reviewers == 0 {
        return Err(format!(
            "the GitHub Environment {environment:?} has no required reviewers, so its approval proves nothing: protect it (Settings → Environments → {environment} → Required reviewers)"
        ));
    }
    let approvals = run.get(&format!("actions/runs/{}/approvals", run.run_id))?;
    let found = approvals
        .as_array()
        .into_iter()
        .flatten()
        .filter(|a| a["state"] == "approved")
        .filter(|a| {
            a["environments"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|e| e["name"] == environment)
        })
        .filter_map(|a| {
            // A login goes on the record as the approver: the rules for a
            // person's name hold (no control or bidi characters).
            let login = a["user"]["login"].as_str()?;
            crate::cli::person(login).ok()?;
            Some(EnvironmentApproval {
                login: login.to_string(),
                comment: a["comment"].as_str().unwrap_or_default().to_string(),
                run_id: run.run_id.clone(),
            })
        })
        .next_back();
    found.ok_or_else(|| {
        format!(
            "no reviewer approved run {} for the GitHub Environment {environment:?}",
            run.run_id
        )
    })
}
