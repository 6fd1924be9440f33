//! Outgoing mail, behind one function: in development and tests each message is a JSON log
//! line (tests read sign-in links from it); in production an HTTP mail API takes it
//! (`MAIL_API_URL`, Resend's request format). Production never logs messages: they carry
//! live sign-in links.

use crate::config::MailerConfig;
use crate::error::AppError;
use crate::outbound;
use crate::platform;
use serde_json::json;
use std::time::Duration;

/// One message: a sign-in link, or a security notice ([`crate::accounts::notices`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mail {
    pub to: String,
    pub subject: String,
    pub text: String,
    /// The sign-in link the text carries, if any (logged on its own in development).
    pub link: Option<String>,
}

/// How long the mail API may take.
const TIMEOUT: Duration = Duration::from_secs(5);

/// The development log line for `mail`.
pub fn log_line(mail: &Mail) -> String {
    json!({
        "level": "info",
        "event": "mail",
        "to": mail.to,
        "subject": mail.subject,
        "text": mail.text,
        "link": mail.link,
    })
    .to_string()
}

/// The mail API's request body.
pub fn api_body(from: &str, mail: &Mail) -> String {
    json!({"from": from, "to": [mail.to], "subject": mail.subject, "text": mail.text}).to_string()
}

/// Sends `mail`; 503 when the mail API fails or refuses it.
pub async fn send(config: &MailerConfig, mail: &Mail) -> Result<(), AppError> {
    match config {
        MailerConfig::Log => {
            platform::log(&log_line(mail));
            Ok(())
        }
        MailerConfig::Http { url, token, from } => {
            let auth = format!("Bearer {token}");
            let answer = outbound::post_json(
                url,
                &[("authorization", &auth)],
                api_body(from, mail),
                TIMEOUT,
            )
            .await
            .map_err(|e| AppError::unavailable(format!("mail API: {e}"), 5))?;
            if (200..300).contains(&answer.status) {
                Ok(())
            } else {
                Err(AppError::unavailable(
                    format!("mail API answered {}", answer.status),
                    5,
                ))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_log_line_and_the_api_body_carry_the_message() {
        let mail = Mail {
            to: "a@b.example".into(),
            subject: "Sign in".into(),
            text: "Open https://x.example/#token=abc".into(),
            link: Some("https://x.example/#token=abc".into()),
        };
        let line: serde_json::Value = serde_json::from_str(&log_line(&mail)).unwrap();
        assert_eq!(line["event"], "mail");
        assert_eq!(line["link"], "https://x.example/#token=abc");
        assert_eq!(line["to"], "a@b.example");
        assert_eq!(line["text"], mail.text);
        let body: serde_json::Value =
            serde_json::from_str(&api_body("login@x.example", &mail)).unwrap();
        assert_eq!(body["from"], "login@x.example");
        assert_eq!(body["to"], serde_json::json!(["a@b.example"]));
        assert_eq!(body["text"], mail.text);
    }
}
