//! Security notices: a message to the account's address when a way into it changes (the
//! password set or changed, a passkey added or removed), so an owner learns of a change they
//! did not make while they can still act on it. Sent after the answer, and only where e-mail
//! is configured (the mailer of e-mail links); a notice that cannot be sent is logged as the
//! warning `security_notice_not_sent` and changes nothing.

use super::repo::Users;
use crate::context::Ctx;
use crate::domain::UserId;
use crate::error::AppError;
use crate::http::log::rfc3339_ms;
use crate::mail::{self, Mail};

/// What changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// A password where there was none (an account made with a passkey or a link).
    PasswordAdded,
    PasswordChanged,
    PasskeyAdded {
        name: String,
    },
    PasskeyRemoved {
        name: String,
    },
    AccountDeleted,
    /// A sign-in link proved the address for the first time, and what was set up before went.
    AddressConfirmed {
        passkeys: u64,
        password: bool,
    },
}

impl Change {
    fn subject(&self) -> &'static str {
        match self {
            Self::PasswordAdded => "A password was added to your account",
            Self::PasswordChanged => "Your password was changed",
            Self::PasskeyAdded { .. } => "A passkey was added to your account",
            Self::PasskeyRemoved { .. } => "A passkey was removed from your account",
            Self::AccountDeleted => "Your account was deleted",
            Self::AddressConfirmed { .. } => "Your address was confirmed",
        }
    }

    fn what(&self) -> String {
        match self {
            Self::PasswordAdded => {
                "A password was added, and every other session was signed out.".to_owned()
            }
            Self::PasswordChanged => {
                "The password was changed, and every other session was signed out.".to_owned()
            }
            Self::PasskeyAdded { name } => format!("A passkey named \"{name}\" was added."),
            Self::PasskeyRemoved { name } => format!("The passkey named \"{name}\" was removed."),
            Self::AddressConfirmed { passkeys, password } => {
                let passkeys = match passkeys {
                    0 => None,
                    1 => Some("1 passkey".to_owned()),
                    n => Some(format!("{n} passkeys")),
                };
                let removed = match (passkeys, password) {
                    (Some(p), true) => format!("{p} and the password"),
                    (Some(p), false) => p,
                    (None, _) => "the password".to_owned(),
                };
                format!(
                    "A sign-in link confirmed this address for the first time. What was set up \
                     on the account before ({removed}) was removed and every other session \
                     signed out, so that no one who signed up with your address keeps a way \
                     in. Add a passkey, or set a password, now."
                )
            }
            Self::AccountDeleted => {
                "The account was deleted, with its notes and passkeys, and every session was \
                 signed out."
                    .to_owned()
            }
        }
    }
}

/// The name the site signs its mail with: the passkey relying party's, else `edge-api`.
pub fn site_name(cx: &Ctx) -> String {
    cx.config()
        .webauthn
        .as_ref()
        .map_or("edge-api", |rp| rp.name.as_str())
        .to_owned()
}

/// Where the page is: `APP_URL`, else the origin this request reached.
pub fn app_base(cx: &Ctx) -> String {
    cx.config()
        .app_url
        .clone()
        .unwrap_or_else(|| cx.own_origin().to_owned())
}

/// The notice of `change` to `to`, made at `at` (Unix ms).
pub fn message(to: &str, site: &str, base: &str, change: &Change, at: u64) -> Mail {
    Mail {
        to: to.to_owned(),
        subject: format!("{} ({site})", change.subject()),
        text: format!(
            "{what}\n\nAccount: {to}\nWhen: {when}\n\nIf this was you, there is nothing to do. \
             If it was not, sign in at {base} (ask for an e-mail link if you cannot), change \
             your password, remove the passkeys you do not know and sign out your other \
             sessions.",
            what = change.what(),
            when = rfc3339_ms(at),
        ),
        link: None,
    }
}

/// Mails the notice of `change` to `user_id`'s address after the answer, when e-mail is
/// configured. `to` is the address when the caller has it already; else it is read then.
pub fn send(cx: &Ctx, user_id: &UserId, to: Option<&str>, change: Change) {
    let Some(mailer) = cx.config().mailer.clone() else {
        return;
    };
    let db = match to {
        Some(_) => None,
        None => match cx.db() {
            Ok(db) => Some(db),
            Err(_) => return,
        },
    };
    let (site, base, at) = (site_name(cx), app_base(cx), cx.now());
    let (user_id, to) = (user_id.clone(), to.map(str::to_owned));
    cx.after_answer("security_notice_not_sent", async move {
        let to = match (to, db) {
            (Some(to), _) => to,
            (None, Some(db)) => match Users::new(&db).by_id(&user_id).await? {
                Some(user) => user.email.as_str().to_owned(),
                None => return Ok(()),
            },
            (None, None) => return Err(AppError::internal("no address and no database")),
        };
        mail::send(&mailer, &message(&to, &site, &base, &change, at)).await
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_notice_says_what_changed_when_and_what_to_do_and_carries_no_link() {
        let change = Change::PasskeyAdded {
            name: "Laptop".into(),
        };
        let mail = message("a@b.example", "Notes", "https://app.example", &change, 0);
        assert_eq!(mail.to, "a@b.example");
        assert_eq!(mail.subject, "A passkey was added to your account (Notes)");
        assert!(mail
            .text
            .starts_with("A passkey named \"Laptop\" was added."));
        assert!(mail.text.contains("When: 1970-01-01T00:00:00.000Z"));
        assert!(mail.text.contains("sign in at https://app.example"));
        assert_eq!(mail.link, None);
        let password = message("a@b.example", "Notes", "x", &Change::PasswordChanged, 0);
        assert!(password.text.contains("every other session was signed out"));
        let removed = Change::PasskeyRemoved { name: "Old".into() };
        assert!(message("a", "N", "x", &removed, 0)
            .text
            .starts_with("The passkey named \"Old\" was removed."));
    }
}
