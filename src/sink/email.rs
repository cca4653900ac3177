//! Email sink: the weekly summary as a MIME message (lettre) — text and HTML alternatives,
//! then attachments — sent over SMTP or written as an `.eml` file.
//!
//! Invariants: every header value we are given (from, to, subject) is rejected if it holds
//! CR, LF or any other control character, so no value can add a header or an SMTP command;
//! the body goes through lettre's encoder and its SMTP client's dot-stuffing, so a body line
//! `.` cannot end the DATA early. The password comes from the environment or a file named in
//! the config, never from the command line, and never appears in an error.

use crate::config::{EmailFile, SmtpFile};
use anyhow::{bail, Context};
use lettre::message::header::{
    self, ContentTransferEncoding, ContentType, Header, HeaderValue, Headers,
};
use lettre::message::{Attachment, Body, Mailbox, Mailboxes, MultiPart, SinglePart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::{Message, SmtpTransport, Transport};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Security {
    None,
    StartTls,
    Tls,
}

/// Resolved mail settings.
#[derive(Debug, Clone)]
pub struct MailSettings {
    pub from: Mailbox,
    pub to: Vec<Mailbox>,
    pub subject: String,
    /// The largest message sent whole (`[email] max_message_bytes`).
    pub max_message_bytes: u64,
}

/// Under the most common server limit: Postfix's default `message_size_limit` is
/// 10,240,000 bytes (Gmail and Exchange Online take 25 MB and more).
pub const DEFAULT_MAX_MESSAGE_BYTES: u64 = 10_000_000;

/// Reject values that could inject headers or SMTP commands.
pub fn check_header_value(what: &str, value: &str) -> anyhow::Result<()> {
    if value.chars().any(char::is_control) {
        bail!(
            "[email] {what}: contains a line break or control character ({}); refusing to build the message",
            crate::escape::text(value)
        );
    }
    Ok(())
}

pub fn resolve(email: Option<&EmailFile>, period_label: &str) -> anyhow::Result<MailSettings> {
    let Some(email) = email else {
        bail!("--email needs an [email] section in the config file (from, to, subject)");
    };
    let Some(from) = email.from.as_deref() else {
        bail!("[email]: `from` is missing");
    };
    check_header_value("from", from)?;
    let from: Mailbox = from.parse().with_context(|| {
        format!(
            "[email] from: invalid address {}",
            crate::escape::text(from)
        )
    })?;
    if email.to.is_empty() {
        bail!("[email]: `to` needs at least one address");
    }
    let mut to = Vec::new();
    for t in &email.to {
        check_header_value("to", t)?;
        to.push(
            t.parse::<Mailbox>().with_context(|| {
                format!("[email] to: invalid address {}", crate::escape::text(t))
            })?,
        );
    }
    let template = email
        .subject
        .as_deref()
        .unwrap_or("Weekly access-log report {week}");
    check_header_value("subject", template)?;
    let max_message_bytes = email.max_message_bytes.unwrap_or(DEFAULT_MAX_MESSAGE_BYTES);
    if max_message_bytes == 0 {
        bail!(
            "[email] max_message_bytes: must be at least 1 (bytes; default {DEFAULT_MAX_MESSAGE_BYTES})"
        );
    }
    Ok(MailSettings {
        from,
        to,
        subject: template.replace("{week}", period_label),
        max_message_bytes,
    })
}

/// The `To:` header, one address a line. lettre writes all of them on one line: two dozen
/// long addresses passed the 998 bytes a line of mail may have, and servers refused the
/// message. Each address is encoded by lettre (a display name as a quoted string or an
/// encoded word), and the lines are folded after the commas; the raw value, which the
/// envelope's recipients are read from, is lettre's own.
fn to_header(to: &[Mailbox]) -> HeaderValue {
    let encoded: Vec<String> = to
        .iter()
        .map(|mailbox| {
            let mut one = Headers::new();
            one.set(header::To::from(Mailboxes::from(mailbox.clone())));
            // `To: VALUE\r\n`
            let line = one.to_string();
            let value = line.strip_prefix("To: ").unwrap_or(&line);
            value.strip_suffix("\r\n").unwrap_or(value).to_string()
        })
        .collect();
    let all: Mailboxes = to.iter().cloned().collect();
    HeaderValue::dangerous_new_pre_encoded(
        header::To::name(),
        all.to_string(),
        encoded.join(",\r\n "),
    )
}

/// The message: the body (text, or multipart/alternative text + HTML when `html` is given),
/// then the attachments (name, content type, bytes).
pub fn build(
    settings: &MailSettings,
    body: &str,
    html: Option<&str>,
    attachments: &[(&str, &str, &[u8])],
) -> anyhow::Result<Message> {
    // A Message-ID, which lettre adds only when asked (`<random@hostname>`): mail without one
    // is spam-filed or refused by large providers.
    let builder = Message::builder()
        .from(settings.from.clone())
        .subject(settings.subject.clone())
        .message_id(None)
        .raw_header(to_header(&settings.to));
    // SMTP lines end in CRLF: lettre sends the body as given, and a bare LF makes the whole
    // body one line (servers reject lines over 1000 octets). A bare CR is a line break too:
    // sent raw, `\r.\r` is what some servers take for the end of DATA (SMTP smuggling).
    let body = body
        .replace("\r\n", "\n")
        .replace('\r', "\n")
        .replace('\n', "\r\n");
    let mut parts = match html {
        None => MultiPart::mixed().singlepart(SinglePart::plain(body)),
        Some(html) => {
            // base64 like the attachments: any line length, byte for byte.
            let encoded =
                Body::new_with_encoding(html.as_bytes().to_vec(), ContentTransferEncoding::Base64)
                    .map_err(|_| anyhow::anyhow!("cannot encode the HTML body"))?;
            let html = SinglePart::builder()
                .header(ContentType::TEXT_HTML)
                .body(encoded);
            MultiPart::mixed().multipart(
                MultiPart::alternative()
                    .singlepart(SinglePart::plain(body))
                    .singlepart(html),
            )
        }
    };
    for (name, ctype, bytes) in attachments {
        let ctype = ContentType::parse(ctype).context("content type")?;
        // base64: the attachment arrives byte for byte, whatever its line endings.
        let encoded = Body::new_with_encoding(bytes.to_vec(), ContentTransferEncoding::Base64)
            .map_err(|_| anyhow::anyhow!("cannot encode attachment"))?;
        parts = parts.singlepart(Attachment::new((*name).to_string()).body(encoded, ctype));
    }
    builder.multipart(parts).context("cannot build the message")
}

fn security(smtp: &SmtpFile) -> anyhow::Result<Security> {
    Ok(match smtp.security.as_deref().unwrap_or("starttls") {
        "none" => Security::None,
        "starttls" => Security::StartTls,
        "tls" => Security::Tls,
        other => bail!(
            "[smtp] security: {} is not none, starttls or tls",
            crate::escape::quoted(other)
        ),
    })
}

fn password(smtp: &SmtpFile) -> anyhow::Result<Option<String>> {
    if let Some(var) = &smtp.password_env {
        return match std::env::var(var) {
            Ok(p) => Ok(Some(p)),
            Err(_) => bail!(
                "[smtp] password_env: environment variable {} is not set",
                crate::escape::text(var)
            ),
        };
    }
    if let Some(file) = &smtp.password_file {
        let p = std::fs::read_to_string(file).with_context(|| {
            format!(
                "cannot read [smtp] password_file {}",
                crate::escape::path(file)
            )
        })?;
        return Ok(Some(p.trim_end_matches(['\n', '\r']).to_string()));
    }
    Ok(None)
}

/// How long the server may take to answer each step.
const SMTP_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// The `[smtp]` section, checked, with its password read: what [`send`] needs.
pub struct Smtp<'a> {
    settings: &'a SmtpFile,
    host: &'a str,
    security: Security,
    password: Option<String>,
}

/// The `[smtp]` section's server, port and security checked, and its password read (before
/// a long analysis too): an unset variable or a missing file is found before the report
/// files are written, and the password the run logs in with is the one read here.
pub fn check_smtp(smtp: Option<&SmtpFile>) -> anyhow::Result<Smtp<'_>> {
    let Some(smtp) = smtp else {
        bail!("--email needs an [smtp] section in the config file (host, port, security)");
    };
    let Some(host) = smtp.host.as_deref() else {
        bail!("[smtp]: `host` is missing");
    };
    // Found now, not when the mail is due after a long analysis.
    if host.is_empty() || host.contains(|c: char| c.is_control() || c.is_whitespace()) {
        bail!(
            "[smtp] host: {} is not a host name",
            crate::escape::quoted(host)
        );
    }
    if smtp.port == Some(0) {
        bail!("[smtp] port: 0 is not a port (1-65535)");
    }
    let security = security(smtp)?;
    let has_password = smtp.password_env.is_some() || smtp.password_file.is_some();
    let password = match (&smtp.username, has_password) {
        (Some(_), true) => password(smtp)?,
        // An empty password would be sent; the server's refusal would come after the run.
        (Some(_), false) => {
            bail!("[smtp] username: needs password_env or password_file (the password)")
        }
        (None, true) => bail!(
            "[smtp] password_env / password_file: needs username (without it no login is tried)"
        ),
        (None, false) => None,
    };
    Ok(Smtp {
        settings: smtp,
        host,
        security,
        password,
    })
}

/// Send over SMTP as configured.
pub fn send(smtp: &Smtp<'_>, message: &Message) -> anyhow::Result<()> {
    let (host, port) = (smtp.host, smtp.settings.port);
    // lettre's ports where none is set: submission (587), submissions (465), SMTP (25).
    let default_port = match smtp.security {
        Security::None => 25,
        Security::StartTls => 587,
        Security::Tls => 465,
    };
    let shown = format!(
        "{}:{}",
        crate::escape::text(host),
        port.unwrap_or(default_port)
    );
    let mut builder = match smtp.security {
        Security::None => SmtpTransport::builder_dangerous(host),
        Security::StartTls => SmtpTransport::starttls_relay(host)
            .with_context(|| format!("SMTP server {shown}: TLS setup failed"))?,
        Security::Tls => SmtpTransport::relay(host)
            .with_context(|| format!("SMTP server {shown}: TLS setup failed"))?,
    };
    if let Some(port) = port {
        builder = builder.port(port);
    }
    builder = builder.timeout(Some(SMTP_TIMEOUT));
    if let Some(user) = &smtp.settings.username {
        let pass = smtp.password.clone().unwrap_or_default();
        builder = builder.credentials(Credentials::new(user.clone(), pass));
    }
    builder.build().send(message).map(|_| ()).map_err(|e| {
        let why = match e.is_timeout() || timed_out(&e) {
            true => format!("no answer within {} s", SMTP_TIMEOUT.as_secs()),
            false => crate::escape::text(&e.to_string()),
        };
        anyhow::anyhow!("cannot send mail via SMTP server {shown}: {why}")
    })
}

/// Whether `e` or an error under it is a socket's timeout. A read past `SO_RCVTIMEO` fails
/// with EAGAIN on Linux ("Resource temporarily unavailable", `WouldBlock`), which lettre's
/// `is_timeout` does not take for one (it looks for `TimedOut`).
fn timed_out(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut at = Some(e);
    while let Some(err) = at {
        if let Some(io) = err.downcast_ref::<std::io::Error>() {
            if matches!(
                io.kind(),
                std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock
            ) {
                return true;
            }
        }
        at = err.source();
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An error caused by a socket's error, as lettre's network error wraps it.
    #[derive(Debug)]
    struct Wrapping(std::io::Error);

    impl std::fmt::Display for Wrapping {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "network error: {}", self.0)
        }
    }

    impl std::error::Error for Wrapping {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(&self.0)
        }
    }

    #[test]
    fn a_socket_timeout_under_an_error_is_a_timeout() {
        use std::io::{Error, ErrorKind};
        let wrapped = |kind| Wrapping(Error::from(kind));
        assert!(timed_out(&wrapped(ErrorKind::WouldBlock)));
        assert!(timed_out(&wrapped(ErrorKind::TimedOut)));
        assert!(timed_out(&Error::from_raw_os_error(libc::EAGAIN)));
        assert!(!timed_out(&wrapped(ErrorKind::ConnectionRefused)));
        assert!(!timed_out(&Error::other("503 no")));
    }

    fn email(from: &str, to: &str, subject: &str) -> EmailFile {
        EmailFile {
            from: Some(from.into()),
            to: vec![to.into()],
            subject: Some(subject.into()),
            max_message_bytes: None,
        }
    }

    #[test]
    fn the_size_limit_defaults_and_is_never_zero() {
        let mut file = email("a@example.org", "m@example.org", "s");
        assert_eq!(
            resolve(Some(&file), "w").unwrap().max_message_bytes,
            DEFAULT_MAX_MESSAGE_BYTES
        );
        file.max_message_bytes = Some(0);
        assert_eq!(
            resolve(Some(&file), "w").unwrap_err().to_string(),
            "[email] max_message_bytes: must be at least 1 (bytes; default 10000000)"
        );
    }

    #[test]
    fn rejects_injection_in_headers() {
        for bad in [
            email("a@example.org\r\nBcc: x@evil", "m@example.org", "s"),
            email("a@example.org", "m@example.org\nBcc: x@evil", "s"),
            email("a@example.org", "m@example.org", "hi\r\nBcc: x@evil"),
            email("a@example.org", "m@example.org", "hi\rRCPT TO:<x@evil>"),
        ] {
            let err = resolve(Some(&bad), "2023-W25").unwrap_err().to_string();
            assert!(err.contains("line break or control character"), "{err}");
        }
        let ok = resolve(
            Some(&email("a@example.org", "m@example.org", "R {week}")),
            "2023-W25",
        )
        .unwrap();
        assert_eq!(ok.subject, "R 2023-W25");
    }

    #[test]
    fn dot_line_is_in_body_not_a_terminator() {
        let s = resolve(Some(&email("a@example.org", "m@example.org", "s")), "w").unwrap();
        let m = build(
            &s,
            "one\n.\ntwo\n",
            Some("<p>x</p>"),
            &[("r.json", "application/json", b"{}")],
        )
        .unwrap();
        let text = String::from_utf8(m.formatted()).unwrap();
        assert!(text.contains("one\r\n.\r\ntwo"), "{text}");
        let bare = build(&s, "a\r.\rb\n.\nc", None, &[]).unwrap();
        let bare = String::from_utf8(bare.formatted()).unwrap();
        assert!(bare.contains("\r\na\r\n.\r\nb\r\n.\r\nc"), "{bare}");
        assert_eq!(
            bare.matches('\r').count(),
            bare.matches("\r\n").count(),
            "no bare CR"
        );
        assert!(text.contains("filename=\"r.json\""));
        assert!(text.contains("multipart/alternative"));
        // One Message-ID header, `<id@host>`, and a fresh one per message.
        let id = |t: &str| {
            let ids: Vec<String> = t
                .lines()
                .filter_map(|l| l.strip_prefix("Message-ID: "))
                .map(str::to_string)
                .collect();
            assert_eq!(ids.len(), 1, "{t}");
            assert!(ids[0].starts_with('<') && ids[0].ends_with('>') && ids[0].contains('@'));
            ids[0].clone()
        };
        assert_ne!(id(&text), id(&bare));
        assert!(text.contains("Content-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\nPHA+eDwvcD4=\r\n"), "{text}");
    }

    #[test]
    fn the_password_is_read_once_when_checked() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("pass");
        std::fs::write(&file, "s3cret\r\n").unwrap();
        let smtp = SmtpFile {
            host: Some("127.0.0.1".into()),
            username: Some("u".into()),
            password_file: Some(file.clone()),
            ..SmtpFile::default()
        };
        let checked = check_smtp(Some(&smtp)).unwrap();
        // Gone after the check (a long analysis later): the send logs in with what was read,
        // not with an error that names no config file.
        std::fs::remove_file(&file).unwrap();
        assert_eq!(checked.password.as_deref(), Some("s3cret"));
        let err = check_smtp(Some(&smtp)).err().unwrap();
        assert!(
            format!("{err:#}").starts_with("cannot read [smtp] password_file "),
            "{err:#}"
        );
        // No login, no password.
        let anonymous = SmtpFile {
            username: None,
            password_file: None,
            ..smtp.clone()
        };
        assert_eq!(check_smtp(Some(&anonymous)).unwrap().password, None);
    }

    #[test]
    fn smtp_values_that_would_fail_only_at_send_time_are_refused() {
        let base = SmtpFile {
            host: Some("mail.example.org".into()),
            ..SmtpFile::default()
        };
        let refused = |smtp: SmtpFile| check_smtp(Some(&smtp)).err().map(|e| e.to_string());
        assert_eq!(refused(base.clone()), None);
        assert_eq!(
            refused(SmtpFile {
                username: Some("u".into()),
                ..base.clone()
            }),
            Some("[smtp] username: needs password_env or password_file (the password)".into())
        );
        assert_eq!(
            refused(SmtpFile {
                password_env: Some("PATH".into()),
                ..base.clone()
            }),
            Some("[smtp] password_env / password_file: needs username (without it no login is tried)".into())
        );
        for host in ["", "mail.example.org\r\nRCPT", "a b"] {
            let err = refused(SmtpFile {
                host: Some(host.into()),
                ..base.clone()
            })
            .unwrap();
            assert!(err.starts_with("[smtp] host: "), "{err}");
        }
        assert_eq!(
            refused(SmtpFile {
                host: Some("mail\u{1b}[31m x".into()),
                ..base.clone()
            }),
            Some("[smtp] host: \"mail\\x1b[31m x\" is not a host name".into())
        );
    }

    #[test]
    fn many_recipients_are_folded_one_a_line_and_all_in_the_envelope() {
        let mut to: Vec<String> = (0..60)
            .map(|n| format!("firstname{n:02}.lastname@example-company.com"))
            .collect();
        to.push("\"Doe, Jane\" <jane@example.org>".into());
        to.push("Jos\u{e9} M\u{fc}ller <jm@example.org>".into());
        let settings = resolve(
            Some(&EmailFile {
                from: Some("logwarden@example.org".into()),
                to: to.clone(),
                subject: Some("s".into()),
                max_message_bytes: None,
            }),
            "w",
        )
        .unwrap();
        let message = build(&settings, "body\n", None, &[]).unwrap();
        let recipients: Vec<String> = message
            .envelope()
            .to()
            .iter()
            .map(|a| a.to_string())
            .collect();
        let mut expected: Vec<String> = to[..60].to_vec();
        expected.extend(["jane@example.org".into(), "jm@example.org".into()]);
        assert_eq!(recipients, expected);
        let text = String::from_utf8(message.formatted()).unwrap();
        let longest = text.split("\r\n").map(str::len).max().unwrap();
        assert!(longest <= 78, "a line of {longest} bytes");
        // The header, unfolded: every address once, in order, the names encoded (by lettre).
        let at = text.find("\r\nTo: ").unwrap() + 2;
        let end = at + text[at..].find("\r\n").unwrap();
        let mut header = text[at..end].to_string();
        let mut rest = &text[end..];
        while let Some(folded) = rest.strip_prefix("\r\n ") {
            let line_end = folded.find("\r\n").unwrap();
            header.push(' ');
            header.push_str(&folded[..line_end]);
            rest = &folded[line_end..];
        }
        let mut want = format!("To: {}", to[..60].join(", "));
        want.push_str(", =?utf-8?b?RG9lLCBKYW5l?= <jane@example.org>, =?utf-8?b?Sm9zw6kgTcO8bGxlcg==?= <jm@example.org>");
        assert_eq!(header, want);
    }
}
