//! Rendering a [`SuiteReport`]: a human summary for the terminal, JUnit XML for CI, JSON for tools.
//! Rendering only; the numbers come from `runner`.

use std::fmt::Write as _;

use crate::runner::{ReplayReport, SuiteReport};

/// The summary printed at the end of `uko-conformance run`.
pub fn human_summary(report: &SuiteReport) -> String {
    let mut text = String::new();
    let cases = if report.shard.is_split() {
        format!("shard {}: {} of {} cases", report.shard, report.shard.case_count(report.cases), report.cases)
    } else {
        format!("{} cases", report.cases)
    };
    let _ = writeln!(
        text,
        "uko-conformance: {cases} against {} (seed {}) in {:.1} s",
        report.client,
        report.seed,
        report.duration_ms as f64 / 1000.0
    );
    for property in &report.properties {
        let verdict = if property.failed == 0 { "pass" } else { "FAIL" };
        let _ = writeln!(
            text,
            "  {verdict:<4}  {:<22} {} cases, {} exercised, {} failed",
            property.property.name(),
            property.cases,
            property.exercised,
            property.failed
        );
    }
    for property in &report.properties {
        let Some(counterexample) = &property.counterexample else {
            continue;
        };
        let _ = writeln!(text);
        let _ = writeln!(text, "{} — {}", property.property.name(), property.rule);
        let _ = writeln!(text, "  broken: {}", counterexample.violation.message);
        let _ = writeln!(
            text,
            "  minimal scenario (case {}, {} shrink runs): {}",
            counterexample.case, counterexample.shrink_runs, counterexample.summary
        );
        for line in &counterexample.violation.evidence {
            let _ = writeln!(text, "    {line}");
        }
        let _ = writeln!(text, "  counterexample: {}", counterexample.file.display());
        let _ = writeln!(text, "  replay: {}", counterexample.replay);
    }
    let _ = writeln!(text);
    let _ = writeln!(text, "{}", if report.passed() { "all properties hold" } else { "some properties are broken" });
    text
}

/// JUnit XML: one test suite, one test case per property, a `<failure>` with the evidence when broken.
pub fn junit_xml(report: &SuiteReport) -> String {
    let failures = report.properties.iter().filter(|property| property.failed > 0).count();
    let mut xml = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        xml,
        "<testsuites name=\"uko-conformance\" tests=\"{}\" failures=\"{failures}\" time=\"{:.3}\">",
        report.properties.len(),
        report.duration_ms as f64 / 1000.0
    );
    let _ = writeln!(
        xml,
        "  <testsuite name=\"uko-conformance\" tests=\"{}\" failures=\"{failures}\" errors=\"0\" time=\"{:.3}\">",
        report.properties.len(),
        report.duration_ms as f64 / 1000.0
    );
    let _ = writeln!(xml, "    <properties>");
    let _ = writeln!(xml, "      <property name=\"client\" value=\"{}\"/>", escape(&report.client));
    let _ = writeln!(xml, "      <property name=\"seed\" value=\"{}\"/>", report.seed);
    let _ = writeln!(xml, "      <property name=\"cases\" value=\"{}\"/>", report.cases);
    let _ = writeln!(xml, "      <property name=\"shard\" value=\"{}\"/>", report.shard);
    let _ = writeln!(xml, "    </properties>");
    for property in &report.properties {
        let _ = write!(
            xml,
            "    <testcase classname=\"uko-conformance\" name=\"{}\" time=\"0\">",
            escape(property.property.name())
        );
        match &property.counterexample {
            Some(counterexample) => {
                let mut body =
                    format!("{}\nfailed in {} of {} cases\n", property.rule, property.failed, property.cases);
                let _ = writeln!(body, "minimal scenario: {}", counterexample.summary);
                for line in &counterexample.violation.evidence {
                    let _ = writeln!(body, "{line}");
                }
                let _ = writeln!(body, "counterexample: {}", counterexample.file.display());
                let _ = writeln!(body, "replay: {}", counterexample.replay);
                let _ = write!(
                    xml,
                    "\n      <failure message=\"{}\" type=\"{}\">{}</failure>\n    ",
                    escape(&counterexample.violation.message),
                    escape(property.property.name()),
                    escape(&body)
                );
            }
            None if property.failed > 0 => {
                let _ = write!(
                    xml,
                    "\n      <failure message=\"failed in {} of {} cases\" type=\"{}\"/>\n    ",
                    property.failed,
                    property.cases,
                    escape(property.property.name())
                );
            }
            None => {
                let _ = write!(
                    xml,
                    "\n      <system-out>{}: {} cases, {} exercised</system-out>\n    ",
                    escape(property.rule),
                    property.cases,
                    property.exercised
                );
            }
        }
        let _ = writeln!(xml, "</testcase>");
    }
    let _ = writeln!(xml, "  </testsuite>");
    let _ = writeln!(xml, "</testsuites>");
    xml
}

/// The report as pretty JSON (`shard::read_report` reads it back, for `merge`).
pub fn json(report: &SuiteReport) -> anyhow::Result<String> {
    let mut text = serde_json::to_string_pretty(report)?;
    text.push('\n');
    Ok(text)
}

/// What `uko-conformance replay` prints.
pub fn replay_summary(report: &ReplayReport) -> String {
    let mut text = String::new();
    let _ = writeln!(text, "requests:");
    for line in &report.journal {
        let _ = writeln!(text, "  {line}");
    }
    let _ = writeln!(
        text,
        "client: {} after {:.2} s",
        report.observation.outcome.exit,
        report.observation.outcome.duration.as_secs_f64()
    );
    for verdict in &report.verdicts {
        match &verdict.violation {
            None => {
                let _ = writeln!(text, "  pass  {}", verdict.property.name());
            }
            Some(violation) => {
                let _ = writeln!(text, "  FAIL  {}: {}", verdict.property.name(), violation.message);
                for line in &violation.evidence {
                    let _ = writeln!(text, "          {line}");
                }
            }
        }
    }
    let recorded = report.recorded_property.name();
    if report.reproduced() {
        let _ = writeln!(text, "reproduced: {recorded} is broken again");
    } else {
        let _ = writeln!(text, "not reproduced: {recorded} holds in this run");
    }
    text
}

fn escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for character in text.chars() {
        match character {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&apos;"),
            // XML 1.0 forbids most control characters even when escaped.
            c if c.is_control() && !matches!(c, '\n' | '\t' | '\r') => escaped.push('?'),
            c => escaped.push(c),
        }
    }
    escaped
}
