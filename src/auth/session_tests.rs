//! Tests of the session record, its expiry rules and the operations over the memory store.

use super::memory::MemoryStore;
use super::*;
use futures_util::FutureExt;

const MIN: u64 = 60_000;
const POLICY: SessionPolicy = SessionPolicy {
    idle_ms: 30 * MIN,
    absolute_ms: 120 * MIN,
    touch_ms: 5 * MIN,
    cache_ms: 0,
};

fn run<F: std::future::Future>(f: F) -> F::Output {
    f.now_or_never().expect("memory store never waits")
}

fn user(n: u8) -> UserId {
    UserId::parse(&format!("0190b0a0-0000-7000-8000-0000000000{n:02x}")).unwrap()
}

fn new_session(user_id: &UserId, now: u64) -> Session {
    Session::new(
        user_id,
        Role::User,
        0,
        "test-agent",
        SignIn::Password,
        now,
        &POLICY,
    )
}

#[test]
fn idle_and_absolute_deadlines_expire_the_session() {
    let s = new_session(&user(0), 0);
    assert!(!s.is_expired(30 * MIN - 1));
    assert!(s.is_expired(30 * MIN), "idle");
    let mut active = s.clone();
    for t in (0..=120).step_by(10) {
        if let Some(next) = active.touched(t * MIN, &POLICY) {
            active = next;
        }
    }
    assert!(active.is_expired(120 * MIN), "absolute, however active");
    assert!(!active.is_expired(119 * MIN));
}

#[test]
fn touch_is_rate_limited_and_capped_by_the_absolute_deadline() {
    let s = new_session(&user(0), 0);
    assert_eq!(s.touched(5 * MIN - 1, &POLICY), None);
    let t = s.touched(5 * MIN, &POLICY).unwrap();
    assert_eq!(t.last_seen_at, 5 * MIN);
    assert_eq!(t.idle_expires_at, 35 * MIN);
    let late = t.touched(100 * MIN, &POLICY).unwrap();
    assert_eq!(late.idle_expires_at, 120 * MIN);
}

#[test]
fn only_a_recent_passkey_or_e_mail_link_sign_in_is_a_fresh_proof() {
    for (with, fresh) in [
        (SignIn::Password, false),
        (SignIn::Passkey, true),
        (SignIn::EmailLink, true),
    ] {
        let s = Session::new(&user(0), Role::User, 0, "", with, 10 * MIN, &POLICY);
        assert_eq!(s.freshly_proven(10 * MIN), fresh, "{with:?} at once");
        assert_eq!(
            s.freshly_proven(15 * MIN - 1),
            fresh,
            "{with:?} just inside"
        );
        assert!(!s.freshly_proven(15 * MIN), "{with:?} five minutes on");
        // Use moves `last_seen_at`, never the sign-in.
        let touched = s.touched(15 * MIN, &POLICY).unwrap();
        assert!(!touched.freshly_proven(15 * MIN), "{with:?} after a touch");
    }
}

#[test]
fn records_without_a_sign_in_method_read_as_password() {
    let s = new_session(&user(0), 0);
    let mut stored = serde_json::to_value(&s).unwrap();
    assert_eq!(stored["signed_in_with"], "password");
    stored.as_object_mut().unwrap().remove("signed_in_with");
    let read: Session = serde_json::from_value(stored).unwrap();
    assert_eq!(read, s);
    let link = Session::new(&user(0), Role::User, 0, "", SignIn::EmailLink, 0, &POLICY);
    assert_eq!(
        serde_json::to_value(&link).unwrap()["signed_in_with"],
        "email_link"
    );
}

#[test]
fn ttl_follows_the_absolute_deadline_with_kv_minimum() {
    let s = new_session(&user(0), 0);
    assert_eq!(s.ttl_secs(0), 120 * 60);
    assert_eq!(s.ttl_secs(120 * MIN - 1000), 60);
}

#[test]
fn user_agent_is_truncated_on_a_char_boundary() {
    let ua = "é".repeat(200);
    let s = Session::new(&user(0), Role::User, 0, &ua, SignIn::Password, 0, &POLICY);
    assert!(s.user_agent.len() <= 256);
    assert!(ua.starts_with(&s.user_agent));
}

#[test]
fn created_sessions_authenticate_and_unknown_tokens_do_not() {
    let store = MemoryStore::default();
    let (token, session) = run(create(&store, new_session(&user(1), 0), 0)).unwrap();
    let auth = run(authenticate(&store, &token, MIN, &POLICY))
        .unwrap()
        .unwrap();
    assert_eq!(auth.session, session);
    assert_eq!(auth.touch, None);
    let stranger = SessionToken::generate();
    assert_eq!(
        run(authenticate(&store, &stranger, MIN, &POLICY)).unwrap(),
        None
    );
}

#[test]
fn a_summary_is_live_until_either_deadline() {
    let p = POLICY;
    let summary = SessionSummary::from(&new_session(&user(1), 0));
    assert!(summary.live(0, &p));
    assert!(summary.live(p.idle_ms - 1, &p));
    assert!(!summary.live(p.idle_ms, &p), "idle");
    let used = SessionSummary {
        last_seen_at: p.absolute_ms - 1,
        ..summary
    };
    assert!(used.live(p.absolute_ms - 1, &p));
    assert!(!used.live(p.absolute_ms, &p), "absolute");
}

#[test]
fn expired_sessions_are_deleted() {
    let store = MemoryStore::default();
    let (token, _) = run(create(&store, new_session(&user(1), 0), 0)).unwrap();
    assert_eq!(
        run(authenticate(&store, &token, 31 * MIN, &POLICY)).unwrap(),
        None
    );
    assert!(store.records.borrow().is_empty());
}

#[test]
fn revoke_all_keeps_only_the_named_session_of_that_user() {
    let store = MemoryStore::default();
    let (keep, _) = run(create(&store, new_session(&user(1), 0), 0)).unwrap();
    run(create(&store, new_session(&user(1), 0), 0)).unwrap();
    run(create(&store, new_session(&user(1), 0), 0)).unwrap();
    let (other, _) = run(create(&store, new_session(&user(2), 0), 0)).unwrap();
    let revoked = run(revoke_all(&store, &user(1), Some(&keep.storage_key()))).unwrap();
    assert_eq!(revoked, 2);
    assert!(run(authenticate(&store, &keep, 1, &POLICY))
        .unwrap()
        .is_some());
    assert!(run(authenticate(&store, &other, 1, &POLICY))
        .unwrap()
        .is_some());
    assert_eq!(run(store.list(&user(1))).unwrap().len(), 1);
}

#[test]
fn any_sign_in_in_the_last_five_minutes_is_recent() {
    for with in [SignIn::Password, SignIn::Passkey, SignIn::EmailLink] {
        let s = Session::new(&user(0), Role::User, 0, "", with, 10 * MIN, &POLICY);
        assert!(s.recently_signed_in(10 * MIN), "{with:?} at once");
        assert!(s.recently_signed_in(15 * MIN - 1), "{with:?} just inside");
        assert!(!s.recently_signed_in(15 * MIN), "{with:?} five minutes on");
        let touched = s.touched(15 * MIN, &POLICY).unwrap();
        assert!(
            !touched.recently_signed_in(15 * MIN),
            "{with:?} after a touch"
        );
    }
}
