//! The request journal: a bounded ring of every UKO API request an instance served, for clients'
//! tests and the conformance suite. Secrets never enter it (no bodies, no Authorization header).

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

/// Longest text kept in one field of an entry (path, `If-Match`, …); longer ones are cut at a character
/// boundary and end in `…`. With the entry cap this bounds the journal's memory: a client sending 200 KiB
/// paths must not make 10,000 entries weigh 2 GiB.
pub const MAX_FIELD_BYTES: usize = 2048;

/// Default number of entries kept per instance.
pub const DEFAULT_CAPACITY: usize = 10_000;

/// Default memory one instance's journal may hold, in bytes (`--journal-max-bytes`): beyond it the oldest
/// entries are forgotten even below the entry count. 10,000 ordinary entries weigh about 3 MB; entries with
/// fields at their cut weigh up to 15 KB each.
pub const DEFAULT_MAX_BYTES: usize = 16 * 1024 * 1024;

/// One served request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct JournalEntry {
    /// Position in the instance's request sequence, from 1, never reused.
    pub seq: u64,
    /// Instance clock when the request was served (RFC 3339).
    pub time: String,
    pub method: String,
    pub path: String,
    /// SDK operation name, when the path and method name one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operation: Option<String>,
    /// The id in the path, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub if_match: Option<String>,
    pub status: u16,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub etag: Option<String>,
    /// Fault rules that fired on this request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fault: Option<String>,
    /// Wall-clock milliseconds since the server started when the request arrived. The only field that is
    /// not reproducible; it lets the conformance suite check timing rules such as `Retry-After`.
    #[serde(default)]
    pub received_ms: u64,
    /// The connection the request came on (the client's port), when served over TCP: requests on one
    /// connection are sequential, which lets the conformance suite tell a retry from a request already in
    /// flight. Not reproducible either.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connection: Option<u64>,
}

/// Bounded ring of entries.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Journal {
    entries: VecDeque<JournalEntry>,
    capacity: usize,
    next_seq: u64,
    /// Memory the held entries take ([`weight`]).
    #[serde(default)]
    bytes: usize,
    /// Most memory the held entries may take.
    #[serde(default = "default_max_bytes")]
    max_bytes: usize,
}

fn default_max_bytes() -> usize {
    DEFAULT_MAX_BYTES
}

impl Default for Journal {
    fn default() -> Self {
        Journal::with_capacity(DEFAULT_CAPACITY)
    }
}

impl Journal {
    /// An empty journal keeping at most `capacity` entries (at least 1).
    pub fn with_capacity(capacity: usize) -> Self {
        Journal {
            entries: VecDeque::new(),
            capacity: capacity.max(1),
            next_seq: 1,
            bytes: 0,
            max_bytes: DEFAULT_MAX_BYTES,
        }
    }

    /// Appends an entry, assigning its sequence number and evicting the oldest beyond capacity.
    pub fn record(&mut self, mut entry: JournalEntry) -> u64 {
        for field in [&mut entry.method, &mut entry.path, &mut entry.time] {
            bound(field);
        }
        let optional =
            [&mut entry.operation, &mut entry.resource_id, &mut entry.if_match, &mut entry.etag, &mut entry.fault];
        for text in optional.into_iter().flatten() {
            bound(text);
        }
        entry.seq = self.next_seq;
        self.next_seq += 1;
        let seq = entry.seq;
        self.bytes += weight(&entry);
        self.entries.push_back(entry);
        self.evict();
        seq
    }

    /// Forgets the oldest entries beyond the entry count or the memory bound (the newest always stays).
    fn evict(&mut self) {
        while self.entries.len() > self.capacity || (self.bytes > self.max_bytes && self.entries.len() > 1) {
            match self.entries.pop_front() {
                Some(oldest) => self.bytes = self.bytes.saturating_sub(weight(&oldest)),
                None => break,
            }
        }
    }

    /// Keeps at most `max_bytes` of entries (by [`weight`]) from now on, forgetting the oldest beyond it.
    pub fn set_max_bytes(&mut self, max_bytes: usize) {
        self.max_bytes = max_bytes.max(1);
        self.evict();
    }

    /// Memory the held entries take, in bytes.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Rewrites the outcome of entry `seq` (if still held): the status its client got after all, no ETag.
    /// Used when a change could not be saved and was taken back.
    pub fn amend(&mut self, seq: u64, status: u16) {
        let Some(first) = self.entries.front().map(|e| e.seq) else {
            return;
        };
        let index = seq.checked_sub(first).and_then(|i| usize::try_from(i).ok());
        if let Some(entry) = index.and_then(|i| self.entries.get_mut(i)).filter(|e| e.seq == seq) {
            entry.status = status;
            entry.etag = None;
        }
    }

    /// Keeps at most `capacity` entries (at least 1) from now on, forgetting the oldest beyond it.
    pub fn set_capacity(&mut self, capacity: usize) {
        self.capacity = capacity.max(1);
        self.evict();
    }

    /// At most `limit` entries with `seq >= from`, oldest first, and the `from` that continues after them:
    /// the last returned `seq + 1`, or [`Journal::next_seq`] when nothing was returned. A reader that
    /// passes it back as `from` sees every entry exactly once (unless capacity evicted it first).
    pub fn read(&self, from: u64, limit: usize) -> (Vec<JournalEntry>, u64) {
        let entries: Vec<JournalEntry> = self.entries.iter().filter(|e| e.seq >= from).take(limit).cloned().collect();
        let next = entries.last().map_or(self.next_seq, |e| e.seq + 1);
        (entries, next)
    }

    /// Entries with `seq > since`, oldest first.
    pub fn since(&self, since: u64) -> Vec<JournalEntry> {
        self.entries.iter().filter(|e| e.seq > since).cloned().collect()
    }

    /// The sequence number the next entry will get.
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// Number of entries held.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when nothing is held.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Forgets every entry (sequence numbers keep increasing).
    pub fn clear(&mut self) {
        self.entries.clear();
        self.bytes = 0;
    }
}

/// What an entry costs in memory: the struct and the heap capacity of its texts.
fn weight(entry: &JournalEntry) -> usize {
    let optional = [&entry.operation, &entry.resource_id, &entry.if_match, &entry.etag, &entry.fault];
    std::mem::size_of::<JournalEntry>()
        + entry.method.capacity()
        + entry.path.capacity()
        + entry.time.capacity()
        + optional.into_iter().flatten().map(String::capacity).sum::<usize>()
}

/// Cuts `text` to at most [`MAX_FIELD_BYTES`] bytes (the cut marked with `…`), in a new allocation of that
/// size: `truncate` would keep the whole original allocation alive.
fn bound(text: &mut String) {
    if text.len() <= MAX_FIELD_BYTES {
        return;
    }
    let mut end = MAX_FIELD_BYTES - '…'.len_utf8();
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let mut cut = String::with_capacity(MAX_FIELD_BYTES);
    cut.push_str(&text[..end]);
    cut.push('…');
    *text = cut;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry() -> JournalEntry {
        JournalEntry {
            seq: 0,
            time: String::new(),
            method: "GET".into(),
            path: "/".into(),
            operation: None,
            resource_id: None,
            if_match: None,
            status: 200,
            etag: None,
            fault: None,
            received_ms: 0,
            connection: None,
        }
    }

    #[test]
    fn the_journal_holds_at_most_its_memory_bound_and_cut_fields_keep_no_spare_room() {
        let mut journal = Journal::with_capacity(10_000);
        journal.set_max_bytes(1024 * 1024);
        for _ in 0..1_000 {
            let mut long = entry();
            long.path = "x".repeat(30_000);
            long.if_match = Some("9".repeat(30_000));
            journal.record(long);
        }
        let held: usize = journal.entries.iter().map(weight).sum();
        assert_eq!(held, journal.bytes());
        assert!(journal.bytes() <= 1024 * 1024, "{}", journal.bytes());
        let cut = journal.entries.back().unwrap();
        assert!(cut.path.capacity() <= MAX_FIELD_BYTES, "a cut path keeps {} bytes", cut.path.capacity());
        assert!(journal.len() > 100, "{} entries", journal.len());
    }

    #[test]
    fn long_fields_are_cut_so_an_entry_stays_small() {
        let mut journal = Journal::with_capacity(2);
        let mut long = entry();
        long.path = format!("/api/v4/managed_keys/{}", "é".repeat(100_000));
        long.if_match = Some("9".repeat(70_000));
        journal.record(long);
        let kept = &journal.since(0)[0];
        assert!(kept.path.len() <= MAX_FIELD_BYTES && kept.path.ends_with('…'), "{}", kept.path.len());
        assert!(kept.path.starts_with("/api/v4/managed_keys/é"));
        assert_eq!(kept.if_match.as_ref().unwrap().len(), MAX_FIELD_BYTES);
    }

    #[test]
    fn journal_is_bounded_and_keeps_sequence_numbers() {
        let mut journal = Journal::with_capacity(3);
        for _ in 0..5 {
            journal.record(entry());
        }
        assert_eq!(journal.len(), 3);
        let seqs: Vec<u64> = journal.since(0).iter().map(|e| e.seq).collect();
        assert_eq!(seqs, [3, 4, 5]);
        assert_eq!(journal.since(4).len(), 1);
    }

    #[test]
    fn read_pages_through_entries_and_resumes_where_it_stopped() {
        let mut journal = Journal::with_capacity(10);
        for _ in 0..5 {
            journal.record(entry());
        }
        let (first, next) = journal.read(0, 2);
        assert_eq!(first.iter().map(|e| e.seq).collect::<Vec<_>>(), [1, 2]);
        assert_eq!(next, 3);
        let (rest, next) = journal.read(next, 100);
        assert_eq!(rest.iter().map(|e| e.seq).collect::<Vec<_>>(), [3, 4, 5]);
        assert_eq!(next, 6);
        let (none, next) = journal.read(next, 100);
        assert!(none.is_empty());
        assert_eq!(next, 6);
    }

    #[test]
    fn shrinking_capacity_forgets_the_oldest_entries() {
        let mut journal = Journal::with_capacity(10);
        for _ in 0..5 {
            journal.record(entry());
        }
        journal.set_capacity(2);
        assert_eq!(journal.since(0).iter().map(|e| e.seq).collect::<Vec<_>>(), [4, 5]);
    }
}
