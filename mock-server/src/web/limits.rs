//! [`Limits`]: how long and how much a client may take. Here, beside the gateway that enforces them, so the
//! web shell does not import `server` (which builds on the web shell): `server` re-exports them.

use std::time::Duration;

/// Largest accepted request body (the largest legitimate body, a keystore with Google credentials, is
/// ~512 KiB).
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// How long and how much a client may take: the defences against slow and oversized requests.
///
/// Requests over a limit get UKO's error shape where our service sees them (413 body, 431 headers, 408
/// slow body). A request head that hyper itself cannot parse (over `server::MAX_HEAD_BYTES` or
/// `server::MAX_HEADERS`, bytes HTTP/1.1 forbids) gets hyper's bare 400/431 and the connection is closed:
/// no UKO service sees such a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Time a client has to send a whole request head, and how long a keep-alive connection may stay
    /// idle between requests, before the connection is closed (hyper's `header_read_timeout`; against
    /// slowloris).
    pub header_read_timeout: Duration,
    /// Time a client has to send a whole request body; slower bodies get a UKO-shaped 408.
    pub body_read_timeout: Duration,
    /// Largest request body (413 above it, on every route, whether or not it reads a body).
    pub max_body_bytes: usize,
    /// Largest total size of the header names and values (UKO-shaped 431 above it).
    pub max_header_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            header_read_timeout: Duration::from_secs(10),
            body_read_timeout: Duration::from_secs(30),
            max_body_bytes: MAX_BODY_BYTES,
            max_header_bytes: MAX_HEADER_BYTES,
        }
    }
}

/// Largest total size of request header names and values our service accepts (UKO-shaped 431 above).
pub const MAX_HEADER_BYTES: usize = 64 * 1024;
