//! Property checks on hand-written journals: each rule catches what it should and accepts what a careful
//! client does (quoted ETags, waiting out Retry-After, re-reading after a 412).

use std::time::Duration;

use uko_conformance::clients::{ClientExit, ClientOutcome};
use uko_conformance::observation::{FinalStatus, Observation, Replay};
use uko_conformance::properties::{check, Budget, Property, Violation};
use uko_conformance::scenario::{ExpectedOutcome, TARGET_KEY_ID};
use uko_mock::domain::request_journal::JournalEntry;
use uko_mock::domain::SyncFlag;

const ETAG: &str = "2026-01-01T09:00:00Z";

#[test]
fn conditional_writes_accepts_the_issued_etag_even_quoted() {
    let journal = vec![get_key(1, 0, ETAG), get_status(2, 10), sync(3, 20, Some("\"2026-01-01T09:00:00Z\""), 200)];
    assert_eq!(verdict(Property::ConditionalWrites, &observation(journal)), None);
}

#[test]
fn conditional_writes_refuses_missing_wildcard_and_fabricated_etags() {
    for (if_match, expected) in
        [(None, "without If-Match"), (Some("*"), "If-Match: *"), (Some("2030-01-01T00:00:00Z"), "never issued")]
    {
        let journal = vec![get_key(1, 0, ETAG), get_status(2, 10), sync(3, 20, if_match, 200)];
        let violation = verdict(Property::ConditionalWrites, &observation(journal)).expect("a violation");
        assert!(violation.message.contains(expected), "{}", violation.message);
        assert!(violation.evidence.iter().any(|line| line.starts_with(">> #3")), "{:?}", violation.evidence);
    }
}

#[test]
fn fresh_etag_after_412_accepts_a_reread_and_refuses_a_resend() {
    let stale = "2025-10-01T10:00:00Z";
    let careful = vec![
        get_key(1, 0, stale),
        get_status(2, 10),
        sync(3, 20, Some(stale), 412),
        get_key(4, 30, ETAG),
        get_status(5, 40),
        sync(6, 50, Some(ETAG), 200),
    ];
    assert_eq!(verdict(Property::FreshEtagAfter412, &observation(careful)), None);

    let resending =
        vec![get_key(1, 0, stale), get_status(2, 10), sync(3, 20, Some(stale), 412), sync(4, 30, Some(stale), 412)];
    let violation = verdict(Property::FreshEtagAfter412, &observation(resending)).expect("a violation");
    assert!(violation.message.contains("resent the ETag"), "{}", violation.message);
}

#[test]
fn bounded_retries_measures_retry_after_from_the_429() {
    let rate_limited = |next_ms| {
        let mut limited = get_key(1, 1_000, ETAG);
        (limited.status, limited.etag, limited.fault) = (429, None, Some("fault-1-429".to_owned()));
        let mut observation = observation(vec![limited, get_key(2, next_ms, ETAG)]);
        observation.retry_after_seconds.insert("fault-1-429".to_owned(), 1);
        observation
    };
    let violation = verdict(Property::BoundedRetries, &rate_limited(1_500)).expect("a violation");
    assert!(violation.message.contains("500 ms after the 429"), "{}", violation.message);
    assert_eq!(verdict(Property::BoundedRetries, &rate_limited(2_000)), None);
}

#[test]
fn bounded_retries_does_not_hold_a_request_already_in_flight_to_a_429() {
    // A careful client reads the key and its status at once, on two connections: the status read left
    // before the 429 on the key read reached the client, and arrives 2 ms after it.
    let on = |entry: JournalEntry, connection: u64| JournalEntry { connection: Some(connection), ..entry };
    let limited = on(JournalEntry { fault: Some("fault-1-429".into()), ..get_key(1, 1000, "t1") }, 40001);
    let limited = JournalEntry { status: 429, etag: None, ..limited };
    let concurrent = vec![limited.clone(), on(get_status(2, 1002), 40002), on(get_key(3, 2060, "t1"), 40001)];
    assert_eq!(verdict(Property::BoundedRetries, &observation(concurrent)), None);

    // The same request again at once, even on a new connection, is a retry: a reaction to the 429.
    let retried = vec![limited.clone(), on(get_key(2, 1003, "t1"), 40002)];
    let violation = verdict(Property::BoundedRetries, &observation(retried)).expect("an immediate retry");
    assert!(violation.message.contains("request #2 arrived 3 ms after the 429 at #1"), "{}", violation.message);

    // Past the concurrency margin nothing was in flight any more.
    let late = vec![limited.clone(), on(get_status(2, 1000 + 600), 40002)];
    assert!(verdict(Property::BoundedRetries, &observation(late)).is_some());

    // Without connections (journals from before they were recorded) the strict rule stands.
    let unknown = vec![JournalEntry { connection: None, ..limited }, get_status(2, 1002)];
    assert!(verdict(Property::BoundedRetries, &observation(unknown)).is_some());
}

#[test]
fn bounded_retries_counts_requests_and_hangs() {
    let journal: Vec<JournalEntry> = (1..=61).map(|seq| get_key(seq, seq * 10, ETAG)).collect();
    let violation = verdict(Property::BoundedRetries, &observation(journal)).expect("a violation");
    assert!(violation.message.contains("61 requests"), "{}", violation.message);

    let mut hung = observation(vec![get_key(1, 0, ETAG)]);
    hung.outcome.exit = ClientExit::Hung;
    assert!(verdict(Property::BoundedRetries, &hung).is_some());
}

#[test]
fn verify_before_sync_wants_a_read_showing_something_out_of_sync() {
    let blind = observation(vec![sync(1, 0, Some(ETAG), 200)]);
    let violation = verdict(Property::VerifyBeforeSync, &blind).expect("a violation");
    assert!(violation.message.contains("without reading its status"), "{}", violation.message);

    let mut needless = observation(vec![get_key(1, 0, ETAG), get_status(2, 10), sync(3, 20, Some(ETAG), 200)]);
    needless.replay.reads_all_ok.extend([(1, true), (2, true)]);
    let violation = verdict(Property::VerifyBeforeSync, &needless).expect("a violation");
    assert!(violation.message.contains("showed it in sync"), "{}", violation.message);

    let mut justified = observation(vec![get_key(1, 0, ETAG), get_status(2, 10), sync(3, 20, Some(ETAG), 200)]);
    justified.replay.reads_all_ok.extend([(1, false), (2, false)]);
    assert_eq!(verdict(Property::VerifyBeforeSync, &justified), None);
}

#[test]
fn honest_exit_and_converges_judge_the_final_state() {
    let mut claimed = observation(vec![get_key(1, 0, ETAG)]);
    claimed.final_statuses[0].flag = SyncFlag::Error;
    assert!(verdict(Property::HonestExit, &claimed).is_some());
    assert!(verdict(Property::Converges, &claimed).is_some());

    claimed.outcome.exit = ClientExit::Code(1);
    claimed.expected = ExpectedOutcome::NotSyncable;
    assert_eq!(verdict(Property::HonestExit, &claimed), None);
    assert_eq!(verdict(Property::Converges, &claimed), None);
}

#[test]
fn no_collateral_allows_reads_of_anything_and_only_the_target_sync() {
    let mut other_key_read = get_key(2, 10, ETAG);
    other_key_read.resource_id = Some("44444444-4444-4444-8444-000000000002".to_owned());
    let reads = observation(vec![get_key(1, 0, ETAG), other_key_read, sync(3, 20, Some(ETAG), 200)]);
    assert_eq!(verdict(Property::NoCollateral, &reads), None);

    let mut deactivate = sync(2, 10, Some(ETAG), 200);
    deactivate.path = format!("/managed_keys/{TARGET_KEY_ID}/deactivate");
    deactivate.operation = Some("DeactivateManagedKey".to_owned());
    let violation =
        verdict(Property::NoCollateral, &observation(vec![get_key(1, 0, ETAG), deactivate])).expect("a violation");
    assert!(violation.message.contains("DeactivateManagedKey"), "{}", violation.message);
}

#[track_caller]
fn verdict(property: Property, observation: &Observation) -> Option<Violation> {
    check(property, observation, &Budget::default()).violation
}

fn observation(journal: Vec<JournalEntry>) -> Observation {
    Observation {
        managed_key_id: TARGET_KEY_ID.to_owned(),
        expected: ExpectedOutcome::Syncable,
        outcome: ClientOutcome {
            exit: ClientExit::Code(0),
            stdout: String::new(),
            stderr: String::new(),
            duration: Duration::from_secs(1),
        },
        journal,
        final_statuses: vec![FinalStatus {
            keystore_name: "AWS KMS 1".to_owned(),
            status: "active".to_owned(),
            flag: SyncFlag::Ok,
            detail: "active_key_is_active_in_keystore".to_owned(),
            removed: false,
        }],
        replay: Replay::default(),
        retry_after_seconds: Default::default(),
        fleet: None,
    }
}

fn entry(seq: u64, received_ms: u64, method: &str, suffix: &str, operation: &str, status: u16) -> JournalEntry {
    JournalEntry {
        seq,
        time: String::new(),
        method: method.to_owned(),
        path: format!("/managed_keys/{TARGET_KEY_ID}{suffix}"),
        operation: Some(operation.to_owned()),
        resource_id: Some(TARGET_KEY_ID.to_owned()),
        if_match: None,
        status,
        etag: None,
        fault: None,
        received_ms,
        connection: None,
    }
}

fn get_key(seq: u64, received_ms: u64, etag: &str) -> JournalEntry {
    JournalEntry { etag: Some(etag.to_owned()), ..entry(seq, received_ms, "GET", "", "GetManagedKey", 200) }
}

fn get_status(seq: u64, received_ms: u64) -> JournalEntry {
    entry(seq, received_ms, "GET", "/status_in_keystores", "GetKeyDistributionStatusForKeystores", 200)
}

fn sync(seq: u64, received_ms: u64, if_match: Option<&str>, status: u16) -> JournalEntry {
    JournalEntry {
        if_match: if_match.map(str::to_owned),
        ..entry(seq, received_ms, "POST", "/sync_status_in_keystores", "SyncManagedKey", status)
    }
}
