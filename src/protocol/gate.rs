//! The seed's quality gates as vocabulary: their ids, the seed's wording
//! of each requirement, the thresholds a repo may set and which actions
//! are each gate's evidence. Judging gates from evidence is `gates`'s.

use super::model::Dur;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::time::Duration;

/// One quality gate from the seed.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Deserialize,
    Serialize,
    schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum GateId {
    // Production Readiness Validation
    InfrastructureValidation,
    SecurityCompliance,
    PerformanceVerification,
    MonitoringOperational,
    RollbackCapability,
    // Zero-Downtime Deployment Standards
    Reliability,
    DeploymentTime,
    ZeroDataLoss,
    RollbackTime,
    RealTimeValidation,
    // Security and Compliance Validation
    SecurityScanning,
    ComplianceValidation,
    AccessControl,
    DataProtection,
    AuditTrail,
}

impl GateId {
    /// Every gate, in the seed's order.
    pub const ALL: [GateId; 15] = [
        GateId::InfrastructureValidation,
        GateId::SecurityCompliance,
        GateId::PerformanceVerification,
        GateId::MonitoringOperational,
        GateId::RollbackCapability,
        GateId::Reliability,
        GateId::DeploymentTime,
        GateId::ZeroDataLoss,
        GateId::RollbackTime,
        GateId::RealTimeValidation,
        GateId::SecurityScanning,
        GateId::ComplianceValidation,
        GateId::AccessControl,
        GateId::DataProtection,
        GateId::AuditTrail,
    ];

    /// The id as written in config and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            GateId::InfrastructureValidation => "infrastructure_validation",
            GateId::SecurityCompliance => "security_compliance",
            GateId::PerformanceVerification => "performance_verification",
            GateId::MonitoringOperational => "monitoring_operational",
            GateId::RollbackCapability => "rollback_capability",
            GateId::Reliability => "reliability",
            GateId::DeploymentTime => "deployment_time",
            GateId::ZeroDataLoss => "zero_data_loss",
            GateId::RollbackTime => "rollback_time",
            GateId::RealTimeValidation => "real_time_validation",
            GateId::SecurityScanning => "security_scanning",
            GateId::ComplianceValidation => "compliance_validation",
            GateId::AccessControl => "access_control",
            GateId::DataProtection => "data_protection",
            GateId::AuditTrail => "audit_trail",
        }
    }

    /// Parses a gate id.
    pub fn parse(s: &str) -> Option<GateId> {
        GateId::ALL.into_iter().find(|g| g.as_str() == s)
    }

    /// The seed's group for this gate.
    pub fn group(self) -> &'static str {
        match self as u8 {
            0..=4 => "Production Readiness",
            5..=9 => "Zero-Downtime Deployment",
            _ => "Security and Compliance",
        }
    }
}

/// Gate thresholds from `gates:` in deploy-session.yaml.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, Default, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GateThresholds {
    /// Longest acceptable deployment (seed: under 5 minutes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deployment_time_max: Option<Dur>,
    /// Longest acceptable rollback (seed: under 2 minutes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollback_time_max: Option<Dur>,
    /// Minimum deployment success rate in percent (seed: 99.9).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reliability_min: Option<f64>,
    /// Fewest measured deployments a success rate may rest on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reliability_min_deployments: Option<u32>,
    /// Which actions' completion is the evidence of a gate (replaces the
    /// built-in list for that gate).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub sources: BTreeMap<GateId, Vec<String>>,
    /// Gates people's word alone cannot pass (default: the measured ones).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub machine_evidence: Option<Vec<GateId>>,
}

/// The gates that need machine evidence unless the config says otherwise.
pub const MEASURED: [GateId; 5] = [
    GateId::DeploymentTime,
    GateId::RollbackTime,
    GateId::Reliability,
    GateId::RealTimeValidation,
    GateId::ZeroDataLoss,
];

impl GateThresholds {
    /// Deployment time limit (default 5m).
    pub fn deployment_time_max(&self) -> Duration {
        self.deployment_time_max
            .map_or(Duration::from_secs(300), |d| d.0)
    }

    /// Rollback time limit (default 2m).
    pub fn rollback_time_max(&self) -> Duration {
        self.rollback_time_max
            .map_or(Duration::from_secs(120), |d| d.0)
    }

    /// Success-rate floor in percent (default 99.9).
    pub fn reliability_min(&self) -> f64 {
        self.reliability_min.unwrap_or(99.9)
    }

    /// Sample size the success rate needs (default 10).
    pub fn reliability_min_deployments(&self) -> u32 {
        self.reliability_min_deployments.unwrap_or(10)
    }

    /// The actions whose completion is evidence for `gate`.
    /// Whether people's word (attestation) cannot pass `gate`.
    pub fn needs_machine_evidence(&self, gate: GateId) -> bool {
        match &self.machine_evidence {
            Some(list) => list.contains(&gate),
            None => MEASURED.contains(&gate),
        }
    }

    pub fn sources(&self, gate: GateId) -> Vec<String> {
        match self.sources.get(&gate) {
            Some(ids) => ids.clone(),
            None => default_sources(gate)
                .iter()
                .map(|s| s.to_string())
                .collect(),
        }
    }
}

/// The seed's wording of each gate's requirement.
/// The seed's wording of `gate`'s requirement, with the thresholds this
/// repo configured.
pub fn requirement(gate: GateId, t: &GateThresholds) -> String {
    let minutes = |d: Duration| {
        let s = d.as_secs();
        if s.is_multiple_of(60) {
            format!("{} minute", s / 60)
        } else {
            format!("{s} second")
        }
    };
    match gate {
        GateId::Reliability => format!(
            "{}% deployment reliability (target success rate, over at least {} deployments)",
            t.reliability_min(),
            t.reliability_min_deployments()
        ),
        GateId::DeploymentTime => {
            format!(
                "<{} deployment execution time",
                minutes(t.deployment_time_max())
            )
        }
        GateId::RollbackTime => format!(
            "<{} rollback if issues are detected",
            minutes(t.rollback_time_max())
        ),
        _ => seed_requirement(gate).to_string(),
    }
}

fn seed_requirement(gate: GateId) -> &'static str {
    match gate {
        GateId::InfrastructureValidation => {
            "Complete infrastructure provisioning and configuration"
        }
        GateId::SecurityCompliance => "All security controls active and validated",
        GateId::PerformanceVerification => "Performance targets achieved and verified",
        GateId::MonitoringOperational => "Comprehensive monitoring and observability active",
        GateId::RollbackCapability => "Automated rollback tested and operational",
        GateId::Reliability => "99.9% deployment reliability (target success rate)",
        GateId::DeploymentTime => "<5 minute deployment execution time",
        GateId::ZeroDataLoss => "Zero data loss during deployment",
        GateId::RollbackTime => "<2 minute rollback if issues are detected",
        GateId::RealTimeValidation => "Continuous deployment validation and monitoring",
        GateId::SecurityScanning => "Complete vulnerability scanning and remediation",
        GateId::ComplianceValidation => "Regulatory compliance requirements satisfied",
        GateId::AccessControl => "Production access controls and IAM validated",
        GateId::DataProtection => "Encryption and data protection controls active",
        GateId::AuditTrail => "Complete deployment audit trail and documentation",
    }
}

/// The built-in evidence actions of each gate (empty for measured gates).
pub fn default_sources(gate: GateId) -> &'static [&'static str] {
    match gate {
        GateId::InfrastructureValidation => &[
            "start.3.2",
            "work.2.1",
            "work.2.2",
            "work.2.3",
            "work.2.4",
            "work.2.5",
        ],
        GateId::SecurityCompliance => &["start.2.3", "work.1.3", "start.3.5"],
        GateId::PerformanceVerification => &["start.2.4", "work.4.5", "work.5.3"],
        GateId::MonitoringOperational => &["start.3.4", "work.4.3", "work.5.1"],
        GateId::RollbackCapability => &["work.4.4"],
        GateId::RealTimeValidation => &["work.4.5"],
        GateId::SecurityScanning => &["work.3.4"],
        GateId::ComplianceValidation => &["start.2.3", "start.3.5"],
        GateId::AccessControl => &["start.3.1", "work.2.3"],
        GateId::DataProtection => &["work.1.3", "work.2.4"],
        GateId::Reliability
        | GateId::DeploymentTime
        | GateId::ZeroDataLoss
        | GateId::RollbackTime
        | GateId::AuditTrail => &[],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_and_group() {
        for g in GateId::ALL {
            assert_eq!(GateId::parse(g.as_str()), Some(g));
        }
        assert_eq!(GateId::RollbackCapability.group(), "Production Readiness");
        assert_eq!(
            GateId::RealTimeValidation.group(),
            "Zero-Downtime Deployment"
        );
        assert_eq!(GateId::AuditTrail.group(), "Security and Compliance");
    }
}
