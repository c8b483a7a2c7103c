//! A minimal DNS client (RFC 1035): one question, recursion desired, over UDP with a TCP
//! retry when the answer is truncated. Only what DNS discovery reads is decoded: SRV, MX
//! and NS answers (names with compression pointers); other records are skipped.
//!
//! Responses are outside input: every read is bounds-checked and pointer chains are
//! limited, so a malformed message is an error, never a panic.

use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Query types discovery asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RecordType {
    /// SRV (33).
    Srv,
    /// MX (15).
    Mx,
    /// NS (2).
    Ns,
}

impl RecordType {
    fn code(self) -> u16 {
        match self {
            RecordType::Srv => 33,
            RecordType::Mx => 15,
            RecordType::Ns => 2,
        }
    }
}

/// An answer record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Record {
    /// SRV: where a service runs.
    Srv {
        /// Priority.
        priority: u16,
        /// Weight.
        weight: u16,
        /// Port.
        port: u16,
        /// Host name (fully qualified, with the final dot).
        target: String,
    },
    /// MX.
    Mx {
        /// Preference.
        preference: u16,
        /// Mail exchanger (with the final dot).
        exchange: String,
    },
    /// NS.
    Ns {
        /// Name server (with the final dot).
        host: String,
    },
    /// Any other record (CNAME, A, ...).
    Other,
}

/// Why a query failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DnsError {
    /// The name cannot be encoded (a label over 63 bytes, the name over 255).
    #[error("invalid name {0:?}")]
    Name(String),
    /// Sending or receiving failed.
    #[error("{0}")]
    Io(String),
    /// No answer in time.
    #[error("timeout")]
    Timeout,
    /// The response is malformed.
    #[error("malformed DNS message: {0}")]
    Malformed(&'static str),
    /// The server answered with an error code (other than NXDOMAIN).
    #[error("server answered with rcode {0}")]
    Rcode(u8),
}

/// A decoded response.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Response {
    /// The message ID.
    pub id: u16,
    /// The TC bit: the answer did not fit in UDP.
    pub truncated: bool,
    /// The response code.
    pub rcode: u8,
    /// The answer section.
    pub answers: Vec<Record>,
}

/// Encodes a query for `name` (dots separate labels; a final dot is optional).
pub fn encode_query(id: u16, name: &str, qtype: RecordType) -> Result<Vec<u8>, DnsError> {
    let mut m = Vec::with_capacity(18 + name.len());
    m.extend_from_slice(&id.to_be_bytes());
    m.extend_from_slice(&[0x01, 0x00]); // RD.
    m.extend_from_slice(&[0, 1, 0, 0, 0, 0, 0, 0]); // QDCOUNT 1.
    let trimmed = name.strip_suffix('.').unwrap_or(name);
    let mut total = 1usize;
    if !trimmed.is_empty() {
        for label in trimmed.split('.') {
            if label.is_empty() || label.len() > 63 {
                return Err(DnsError::Name(name.to_string()));
            }
            total += label.len() + 1;
            m.push(label.len() as u8);
            m.extend_from_slice(label.as_bytes());
        }
    }
    if total > 255 {
        return Err(DnsError::Name(name.to_string()));
    }
    m.push(0);
    m.extend_from_slice(&qtype.code().to_be_bytes());
    m.extend_from_slice(&[0, 1]); // IN.
    Ok(m)
}

struct Reader<'a> {
    msg: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], DnsError> {
        let end =
            self.pos.checked_add(n).filter(|&e| e <= self.msg.len()).ok_or(DnsError::Malformed("short message"))?;
        let s = &self.msg[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    fn u16(&mut self) -> Result<u16, DnsError> {
        let b = self.take(2)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }

    fn u32(&mut self) -> Result<u32, DnsError> {
        let b = self.take(4)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    /// A (possibly compressed) name at the current position, rendered with a final dot.
    fn name(&mut self) -> Result<String, DnsError> {
        let (name, next) = read_name(self.msg, self.pos)?;
        self.pos = next;
        Ok(name)
    }
}

/// Reads the name at `start`: returns it and the position after it (after the first
/// pointer, if it was compressed).
fn read_name(msg: &[u8], start: usize) -> Result<(String, usize), DnsError> {
    let mut out = String::new();
    let mut pos = start;
    let mut after: Option<usize> = None;
    let mut jumps = 0;
    loop {
        let len = *msg.get(pos).ok_or(DnsError::Malformed("name runs past the end"))?;
        match len & 0xc0 {
            0x00 => {
                if len == 0 {
                    pos += 1;
                    break;
                }
                let l = usize::from(len);
                let label = msg.get(pos + 1..pos + 1 + l).ok_or(DnsError::Malformed("label runs past the end"))?;
                out.push_str(&String::from_utf8_lossy(label));
                out.push('.');
                if out.len() > 255 {
                    return Err(DnsError::Malformed("name too long"));
                }
                pos += 1 + l;
            }
            0xc0 => {
                let lo = *msg.get(pos + 1).ok_or(DnsError::Malformed("pointer runs past the end"))?;
                jumps += 1;
                if jumps > 32 {
                    return Err(DnsError::Malformed("too many compression pointers"));
                }
                after.get_or_insert(pos + 2);
                pos = usize::from(len & 0x3f) << 8 | usize::from(lo);
            }
            _ => return Err(DnsError::Malformed("unknown label type")),
        }
    }
    if out.is_empty() {
        out.push('.');
    }
    Ok((out, after.unwrap_or(pos)))
}

/// Decodes a response.
pub fn parse_response(msg: &[u8]) -> Result<Response, DnsError> {
    let mut r = Reader { msg, pos: 0 };
    let id = r.u16()?;
    let flags = r.u16()?;
    if flags & 0x8000 == 0 {
        return Err(DnsError::Malformed("not a response"));
    }
    let qd = r.u16()?;
    let an = r.u16()?;
    r.take(4)?; // NSCOUNT, ARCOUNT.
    for _ in 0..qd {
        r.name()?;
        r.take(4)?;
    }
    let mut answers = Vec::with_capacity(usize::from(an).min(64));
    for _ in 0..an {
        r.name()?;
        let typ = r.u16()?;
        let _class = r.u16()?;
        let _ttl = r.u32()?;
        let len = usize::from(r.u16()?);
        let rdata_start = r.pos;
        r.take(len)?;
        // Names inside RDATA may point anywhere in the message.
        let mut d = Reader { msg, pos: rdata_start };
        let rec = match typ {
            33 => Record::Srv { priority: d.u16()?, weight: d.u16()?, port: d.u16()?, target: d.name()? },
            15 => Record::Mx { preference: d.u16()?, exchange: d.name()? },
            2 => Record::Ns { host: d.name()? },
            _ => Record::Other,
        };
        if d.pos > rdata_start + len {
            return Err(DnsError::Malformed("record data runs past its length"));
        }
        answers.push(rec);
    }
    Ok(Response { id, truncated: flags & 0x0200 != 0, rcode: (flags & 0x000f) as u8, answers })
}

fn random_id() -> u16 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos()));
    h.finish() as u16
}

fn io(e: std::io::Error) -> DnsError {
    DnsError::Io(e.to_string())
}

async fn exchange_udp(server: SocketAddr, q: &[u8], id: u16) -> Result<Response, DnsError> {
    let bind: SocketAddr =
        if server.is_ipv4() { "0.0.0.0:0" } else { "[::]:0" }.parse().map_err(|_| DnsError::Io("bind".into()))?;
    let sock = tokio::net::UdpSocket::bind(bind).await.map_err(io)?;
    sock.connect(server).await.map_err(io)?;
    sock.send(q).await.map_err(io)?;
    let mut buf = vec![0u8; 4096];
    loop {
        let n = sock.recv(&mut buf).await.map_err(io)?;
        // Answers to other questions (late replies, spoofing attempts) are ignored.
        match parse_response(&buf[..n]) {
            Ok(resp) if resp.id == id => return Ok(resp),
            _ => continue,
        }
    }
}

async fn exchange_tcp(server: SocketAddr, q: &[u8]) -> Result<Response, DnsError> {
    let mut s = tokio::net::TcpStream::connect(server).await.map_err(io)?;
    let len = u16::try_from(q.len()).map_err(|_| DnsError::Io("query too long".into()))?;
    s.write_all(&len.to_be_bytes()).await.map_err(io)?;
    s.write_all(q).await.map_err(io)?;
    let mut lb = [0u8; 2];
    s.read_exact(&mut lb).await.map_err(io)?;
    let mut buf = vec![0u8; usize::from(u16::from_be_bytes(lb))];
    s.read_exact(&mut buf).await.map_err(io)?;
    parse_response(&buf)
}

/// Asks `server` for the `qtype` records of `name`. NXDOMAIN is an empty answer.
pub async fn query(
    server: SocketAddr,
    name: &str,
    qtype: RecordType,
    timeout: Duration,
) -> Result<Vec<Record>, DnsError> {
    let id = random_id();
    let q = encode_query(id, name, qtype)?;
    let mut resp =
        tokio::time::timeout(timeout, exchange_udp(server, &q, id)).await.map_err(|_| DnsError::Timeout)??;
    if resp.truncated {
        resp = tokio::time::timeout(timeout, exchange_tcp(server, &q)).await.map_err(|_| DnsError::Timeout)??;
    }
    match resp.rcode {
        0 => Ok(resp.answers),
        3 => Ok(Vec::new()),
        c => Err(DnsError::Rcode(c)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A response to `q` with the given flags low byte and answer records (raw RDATA).
    pub(crate) fn response(q: &[u8], flags_lo: u8, answers: &[(u16, Vec<u8>)]) -> Vec<u8> {
        let mut m = q.to_vec();
        m[2] = 0x81; // QR, RD.
        m[3] = flags_lo;
        m[6..8].copy_from_slice(&(answers.len() as u16).to_be_bytes());
        for (typ, rdata) in answers {
            m.extend_from_slice(&[0xc0, 12]); // The question's name.
            m.extend_from_slice(&typ.to_be_bytes());
            m.extend_from_slice(&[0, 1, 0, 0, 0, 60]);
            m.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
            m.extend_from_slice(rdata);
        }
        m
    }

    fn srv_rdata(port: u16, target: &[u8]) -> Vec<u8> {
        let mut d = vec![0, 1, 0, 2];
        d.extend_from_slice(&port.to_be_bytes());
        d.extend_from_slice(target);
        d
    }

    #[test]
    fn query_encoding() {
        let q = encode_query(0x1234, "_a._tcp.example.com.", RecordType::Srv).unwrap();
        // Header, then 2 "_a" 4 "_tcp" 7 "example" 3 "com" 0, type 33, class 1.
        let mut want = vec![0x12, 0x34, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0];
        want.extend_from_slice(b"\x02_a\x04_tcp\x07example\x03com\x00\x00\x21\x00\x01");
        assert_eq!(q, want);
        assert_eq!(encode_query(1, "example.com", RecordType::Mx).unwrap().len(), want.len() - 8);
        assert!(encode_query(1, &"a".repeat(64), RecordType::Ns).is_err());
        assert!(encode_query(1, "a..b", RecordType::Ns).is_err());
    }

    #[test]
    fn responses_decode_with_compression() {
        let q = encode_query(7, "_s._tcp.ex.", RecordType::Srv).unwrap();
        // Second answer's target points at "ex." inside the question (offset 12 + 3 + 5).
        let answers = vec![
            (33, srv_rdata(9100, b"\x02n1\x02ex\x00")),
            (5, b"\x02cn\x00".to_vec()),
            (33, srv_rdata(9101, &[2, b'n', b'2', 0xc0, 20])),
        ];
        let r = parse_response(&response(&q, 0x80, &answers)).unwrap();
        assert_eq!((r.id, r.truncated, r.rcode), (7, false, 0));
        assert_eq!(
            r.answers,
            vec![
                Record::Srv { priority: 1, weight: 2, port: 9100, target: "n1.ex.".into() },
                Record::Other,
                Record::Srv { priority: 1, weight: 2, port: 9101, target: "n2.ex.".into() },
            ]
        );
        let t = parse_response(&response(&q, 0x83, &[])).unwrap();
        assert_eq!(t.rcode, 3);
    }

    #[test]
    fn malformed_responses_are_errors() {
        let q = encode_query(7, "x.", RecordType::Ns).unwrap();
        let good = response(&q, 0x80, &[(2, b"\x02ns\x00".to_vec())]);
        // Every truncation of a good message fails cleanly.
        for n in 0..good.len() {
            assert!(parse_response(&good[..n]).is_err(), "prefix of {n} bytes");
        }
        // A pointer loop.
        let mut looped = response(&q, 0x80, &[(2, vec![0xc0, 0])]);
        let at = looped.len() - 2;
        looped[at + 1] = at as u8;
        assert_eq!(parse_response(&looped), Err(DnsError::Malformed("too many compression pointers")));
        // Not a response.
        assert!(parse_response(&q).is_err());
    }

    #[tokio::test]
    async fn udp_exchange_with_a_local_server() {
        let server = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let addr = server.local_addr().unwrap();
        let srv = tokio::spawn(async move {
            let mut buf = [0u8; 512];
            let (n, peer) = server.recv_from(&mut buf).await.unwrap();
            let q = buf[..n].to_vec();
            // A stray reply with another ID first: the client must wait for its own.
            let mut stray = response(&q, 0x80, &[]);
            stray[0] ^= 0xff;
            server.send_to(&stray, peer).await.unwrap();
            server.send_to(&response(&q, 0x80, &[(33, srv_rdata(80, b"\x01h\x00"))]), peer).await.unwrap();
        });
        let recs = query(addr, "_x._tcp.local.", RecordType::Srv, Duration::from_secs(5)).await.unwrap();
        assert_eq!(recs, vec![Record::Srv { priority: 1, weight: 2, port: 80, target: "h.".into() }]);
        srv.await.unwrap();
    }
}
