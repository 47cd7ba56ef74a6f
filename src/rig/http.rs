//! What the rig's HTTP target serves and the poller asks for, sans-IO: the routes of
//! `rig hello` and the request `rig poll` sends. The heads themselves are
//! [`crate::http`]'s, shared with the stats endpoint.

use crate::http::Request;

/// The most `/bytes/N` serves in one response: 100 MiB.
pub const MAX_BODY_BYTES: u64 = 100 << 20;
/// What `/` answers.
pub const HELLO: &str = "Hello World!";

/// Where a request goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    Hello,
    Bytes(u64),
    /// `/bytes/N` with N over `MAX_BODY_BYTES` or not a number.
    BadSize,
    NotFound,
}

pub fn route(request: &Request) -> Route {
    match request.path() {
        "/" => Route::Hello,
        path => match path.strip_prefix("/bytes/") {
            Some(n) => match n.parse::<u64>() {
                Ok(n) if n <= MAX_BODY_BYTES => Route::Bytes(n),
                _ => Route::BadSize,
            },
            None => Route::NotFound,
        },
    }
}

/// The request line and headers `rig poll` sends for `n` bytes.
pub fn bytes_request(host: &str, n: u64) -> String {
    format!("GET /bytes/{n} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: lumberwatch-rig\r\n\r\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::parse_request;

    fn route_of(text: &str) -> Route {
        let (req, _) = parse_request(text.as_bytes())
            .expect("a valid request")
            .expect("a complete head");
        route(&req)
    }

    #[test]
    fn routes_cover_hello_bytes_limits_and_unknown_paths() {
        let r = |target: &str| route_of(&format!("GET {target} HTTP/1.1\r\n\r\n"));
        assert_eq!(r("/"), Route::Hello);
        assert_eq!(r("/?x=1"), Route::Hello);
        assert_eq!(r("/bytes/0"), Route::Bytes(0));
        assert_eq!(
            r(&format!("/bytes/{MAX_BODY_BYTES}")),
            Route::Bytes(MAX_BODY_BYTES)
        );
        assert_eq!(r(&format!("/bytes/{}", MAX_BODY_BYTES + 1)), Route::BadSize);
        assert_eq!(r("/bytes/-1"), Route::BadSize);
        assert_eq!(r("/bytes/"), Route::BadSize);
        assert_eq!(r("/nothing"), Route::NotFound);
    }

    #[test]
    fn the_server_routes_what_the_poller_asks_for() {
        assert_eq!(
            route_of(&bytes_request("127.0.0.1:8080", 7)),
            Route::Bytes(7)
        );
    }
}
