//! Every configuration rule, parsed from plain maps.

use super::*;
use std::collections::HashMap;

const SECRET: &str = "0123456789abcdef0123456789abcdef";

fn parse(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
    let mut map: HashMap<String, String> = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    map.entry("CURSOR_SECRET".into()).or_insert(SECRET.into());
    Config::parse(|k| map.get(k).cloned())
}

#[test]
fn defaults_are_safe() {
    let c = parse(&[]).unwrap();
    assert_eq!(c.environment, Environment::Production);
    assert!(c.allowed_origins.is_empty());
    assert_eq!(c.max_body_bytes, 65536);
    assert!(!c.test_routes);
    assert_eq!(c.session.idle_ms, 7 * 86_400_000);
    assert_eq!(c.session.absolute_ms, 30 * 86_400_000);
    assert_eq!(c.session.touch_ms, 300_000);
    assert!(!c.jwt.enabled());
    assert_eq!(c.jwt.audience, "edge-api");
}

#[test]
fn secrets_must_be_long_enough() {
    assert_eq!(
        parse(&[("CURSOR_SECRET", "short")]).unwrap_err().var,
        "CURSOR_SECRET"
    );
    assert_eq!(
        parse(&[("JWT_HS256_SECRET", "short")]).unwrap_err().var,
        "JWT_HS256_SECRET"
    );
    let map: HashMap<&str, &str> = HashMap::new();
    let e = Config::parse(|k| map.get(k).map(|v| v.to_string())).unwrap_err();
    assert_eq!(e.var, "CURSOR_SECRET");
}

#[test]
fn jwt_keys_are_parsed_and_need_an_issuer() {
    let key = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo";
    let c = parse(&[
        ("JWT_ED25519_PUBLIC_KEYS", &format!("k1:{key}, k2:{key}")),
        ("JWT_ISSUER", "https://issuer.example"),
    ])
    .unwrap();
    assert_eq!(c.jwt.ed25519_keys.len(), 2);
    assert_eq!(c.jwt.ed25519_keys[1].0, "k2");
    assert!(c.jwt.enabled());
    let e = parse(&[("JWT_ED25519_PUBLIC_KEYS", &format!("k1:{key}"))]).unwrap_err();
    assert_eq!(e.var, "JWT_ISSUER");
    for bad in ["nokid", "k1:AAAA", "k1:!!!"] {
        let e = parse(&[("JWT_ED25519_PUBLIC_KEYS", bad), ("JWT_ISSUER", "i")]).unwrap_err();
        assert_eq!(e.var, "JWT_ED25519_PUBLIC_KEYS", "{bad}");
    }
}

#[test]
fn rate_limits_override_defaults() {
    let c = parse(&[("RATE_LIMITS", "ip=10/1, login-email=2/600")]).unwrap();
    let ip = c.policy("ip").unwrap();
    assert_eq!((ip.quota.limit, ip.quota.window_ms), (10, 1000));
    assert_eq!(c.policy("login-email").unwrap().quota.limit, 2);
    assert_eq!(c.policy("user").unwrap().quota.limit, 600);
    for bad in ["ip=0/60", "ip=5", "nope=1/1", "ip=1/0", "ip"] {
        assert_eq!(
            parse(&[("RATE_LIMITS", bad)]).unwrap_err().var,
            "RATE_LIMITS",
            "{bad}"
        );
    }
}

#[test]
fn database_backend_is_chosen_and_checked() {
    assert_eq!(parse(&[]).unwrap().database, DbBackend::D1);
    let c = parse(&[
        ("DB_BACKEND", "turso"),
        ("TURSO_URL", "libsql://db.example.turso.io"),
        ("TURSO_AUTH_TOKEN", "t"),
    ])
    .unwrap();
    assert_eq!(
        c.database,
        DbBackend::Turso {
            url: "libsql://db.example.turso.io".into(),
            auth_token: Some("t".into()),
            timeout_ms: 5000
        }
    );
    assert_eq!(
        parse(&[("DB_BACKEND", "turso")]).unwrap_err().var,
        "TURSO_URL"
    );
    assert_eq!(
        parse(&[("DB_BACKEND", "pg")]).unwrap_err().var,
        "DB_BACKEND"
    );
    let e = parse(&[
        ("DB_BACKEND", "turso"),
        ("TURSO_URL", "http://x"),
        ("TURSO_TIMEOUT_MS", "0"),
    ]);
    assert_eq!(e.unwrap_err().var, "TURSO_TIMEOUT_MS");
}

#[test]
fn cache_defaults_to_l1_alone_and_l2_needs_a_token() {
    let c = parse(&[]).unwrap().cache;
    assert_eq!((c.ttl_ms, c.stale_ms), (60_000, 300_000));
    assert_eq!((c.l1_max_entries, c.l1_max_bytes), (1000, 8 << 20));
    assert_eq!(c.upstash, None);
    assert!(c.enabled());

    let c = parse(&[
        ("UPSTASH_REDIS_REST_URL", "https://eu1-x.upstash.io"),
        ("UPSTASH_REDIS_REST_TOKEN", "tok"),
        ("CACHE_TIMEOUT_MS", "80"),
        ("CACHE_L1_MAX_ENTRIES", "0"),
    ])
    .unwrap()
    .cache;
    let l2 = c.upstash.clone().unwrap();
    assert_eq!(
        (l2.url.as_str(), l2.token.as_str(), l2.timeout_ms),
        ("https://eu1-x.upstash.io", "tok", 80)
    );
    assert_eq!(c.l1_max_entries, 0);
    assert!(c.enabled());

    let c = parse(&[
        ("UPSTASH_REDIS_REST_URL", "https://x.upstash.io"),
        ("UPSTASH_REDIS_REST_TOKEN", "tok"),
    ])
    .unwrap();
    assert_eq!(
        c.cache.upstash.unwrap().timeout_ms,
        50,
        "default L2 timeout"
    );

    let e = parse(&[("UPSTASH_REDIS_REST_URL", "https://x.upstash.io")]).unwrap_err();
    assert_eq!(e.var, "UPSTASH_REDIS_REST_TOKEN");
    let e = parse(&[
        ("UPSTASH_REDIS_REST_URL", "redis://x"),
        ("UPSTASH_REDIS_REST_TOKEN", "t"),
    ]);
    assert_eq!(e.unwrap_err().var, "UPSTASH_REDIS_REST_URL");
    for (var, bad) in [
        ("CACHE_TTL_SECS", "0"),
        ("CACHE_STALE_SECS", "x"),
        ("CACHE_L1_MAX_BYTES", "10"),
        ("CACHE_L1_MAX_ENTRIES", "-1"),
    ] {
        assert_eq!(parse(&[(var, bad)]).unwrap_err().var, var, "{var}={bad}");
    }
    let e = parse(&[
        ("UPSTASH_REDIS_REST_URL", "https://x.upstash.io"),
        ("UPSTASH_REDIS_REST_TOKEN", "t"),
        ("CACHE_TIMEOUT_MS", "0"),
    ]);
    assert_eq!(e.unwrap_err().var, "CACHE_TIMEOUT_MS");
}

#[test]
fn session_timeouts_are_configurable() {
    let c = parse(&[("SESSION_IDLE_SECS", "2"), ("SESSION_TOUCH_SECS", "1")]).unwrap();
    assert_eq!(c.session.idle_ms, 2000);
    assert_eq!(c.session.touch_ms, 1000);
    assert_eq!(
        parse(&[("SESSION_IDLE_SECS", "0")]).unwrap_err().var,
        "SESSION_IDLE_SECS"
    );
}

#[test]
fn origins_are_trimmed_and_checked() {
    let c = parse(&[(
        "ALLOWED_ORIGINS",
        " https://a.example, http://localhost:5173 ,",
    )])
    .unwrap();
    assert_eq!(
        c.allowed_origins,
        ["https://a.example", "http://localhost:5173"]
    );
    for bad in ["*", "a.example", "https://a.example/path", "https://"] {
        let e = parse(&[("ALLOWED_ORIGINS", bad)]).unwrap_err();
        assert_eq!(e.var, "ALLOWED_ORIGINS", "{bad}");
    }
}

#[test]
fn bad_numbers_name_the_variable() {
    for bad in ["abc", "0", "-1", "99999999999"] {
        let e = parse(&[("MAX_BODY_BYTES", bad)]).unwrap_err();
        assert_eq!(e.var, "MAX_BODY_BYTES");
        assert!(e.to_string().contains("MAX_BODY_BYTES"));
    }
    assert_eq!(
        parse(&[("MAX_BODY_BYTES", "1024")]).unwrap().max_body_bytes,
        1024
    );
}

#[test]
fn test_routes_are_refused_in_production() {
    assert!(parse(&[("TEST_ROUTES", "true")]).is_err());
    let c = parse(&[("TEST_ROUTES", "true"), ("APP_ENV", "test")]).unwrap();
    assert!(c.test_routes);
    assert!(parse(&[("TEST_ROUTES", "yes"), ("APP_ENV", "test")]).is_err());
    assert!(parse(&[("APP_ENV", "staging")]).is_err());
}

#[test]
fn leases_follow_the_quota_and_can_be_turned_off() {
    let c = parse(&[("RATE_LIMITS", "ip=50/60")]).unwrap();
    assert!(!c.policy("ip").unwrap().lease, "a tight quota is exact");
    assert!(c.policy("user").unwrap().lease);
    assert!(!c.policy("login-ip").unwrap().lease);
    let c = parse(&[("RATE_LIMIT_LEASES", "false")]).unwrap();
    assert!(c.rate_limits.iter().all(|p| !p.lease));
    assert_eq!(
        parse(&[("RATE_LIMIT_LEASES", "maybe")]).unwrap_err().var,
        "RATE_LIMIT_LEASES"
    );
}

#[test]
fn passkeys_default_to_localhost_outside_production_and_stay_off_in_it() {
    let dev = parse(&[("APP_ENV", "development")]).unwrap();
    let rp = dev.webauthn.unwrap();
    assert_eq!(rp.id, "localhost");
    assert!(rp.any_localhost && rp.require_user_verification);
    assert_eq!(dev.mailer, Some(MailerConfig::Log));
    assert_eq!(dev.app_url, None);
    assert!(dev.password_login);

    let prod = parse(&[]).unwrap();
    assert_eq!(prod.webauthn, None);
    assert_eq!(prod.mailer, None, "no log mailer in production");

    let prod = parse(&[
        ("WEBAUTHN_RP_ID", "Example.com"),
        (
            "WEBAUTHN_ORIGINS",
            "https://example.com, https://app.example.com",
        ),
        ("WEBAUTHN_USER_VERIFICATION", "preferred"),
        ("WEBAUTHN_RP_NAME", "Example"),
    ])
    .unwrap();
    let rp = prod.webauthn.unwrap();
    assert_eq!(rp.id, "example.com");
    assert_eq!(rp.name, "Example");
    assert_eq!(
        rp.origins,
        ["https://example.com", "https://app.example.com"]
    );
    assert!(!rp.any_localhost && !rp.require_user_verification);
    assert_eq!(prod.app_url.as_deref(), Some("https://example.com"));
}

#[test]
fn passkey_settings_are_checked() {
    for (vars, var) in [
        (&[("WEBAUTHN_RP_ID", "example.com")][..], "WEBAUTHN_ORIGINS"),
        (
            &[("WEBAUTHN_RP_ID", "127.0.0.1"), ("APP_ENV", "test")][..],
            "WEBAUTHN_RP_ID",
        ),
        (
            &[
                ("WEBAUTHN_RP_ID", "https://example.com"),
                ("APP_ENV", "test"),
            ][..],
            "WEBAUTHN_RP_ID",
        ),
        (
            &[("WEBAUTHN_RP_ID", "a..b"), ("APP_ENV", "test")][..],
            "WEBAUTHN_RP_ID",
        ),
        (
            &[("WEBAUTHN_ORIGINS", "example.com"), ("APP_ENV", "test")][..],
            "WEBAUTHN_ORIGINS",
        ),
        (
            &[
                ("WEBAUTHN_USER_VERIFICATION", "discouraged"),
                ("APP_ENV", "test"),
            ][..],
            "WEBAUTHN_USER_VERIFICATION",
        ),
        (&[("PASSWORD_LOGIN", "maybe")][..], "PASSWORD_LOGIN"),
        (&[("APP_URL", "https://example.com/path")][..], "APP_URL"),
    ] {
        assert_eq!(parse(vars).unwrap_err().var, var, "{vars:?}");
    }
    assert!(
        !parse(&[("PASSWORD_LOGIN", "false")])
            .unwrap()
            .password_login
    );
}

#[test]
fn mail_goes_through_the_api_when_configured() {
    let c = parse(&[
        ("MAIL_API_URL", "https://api.resend.com/emails"),
        ("MAIL_API_TOKEN", "re_123"),
        ("MAIL_FROM", "login@example.com"),
        ("APP_URL", "https://example.com"),
    ])
    .unwrap();
    assert_eq!(
        c.mailer,
        Some(MailerConfig::Http {
            url: "https://api.resend.com/emails".into(),
            token: "re_123".into(),
            from: "login@example.com".into(),
        })
    );
    let base = [("MAIL_API_URL", "https://api.resend.com/emails")];
    assert_eq!(parse(&base).unwrap_err().var, "MAIL_API_TOKEN");
    let no_from = [base[0], ("MAIL_API_TOKEN", "t")];
    assert_eq!(parse(&no_from).unwrap_err().var, "MAIL_FROM");
    let no_url = [
        base[0],
        ("MAIL_API_TOKEN", "t"),
        ("MAIL_FROM", "a@b.example"),
    ];
    assert_eq!(parse(&no_url).unwrap_err().var, "APP_URL");
    // Outside production too: the links reach real mailboxes, so their host may not come
    // from the request's `Host`.
    for env in ["development", "test"] {
        let staging = [no_url[0], no_url[1], no_url[2], ("APP_ENV", env)];
        assert_eq!(parse(&staging).unwrap_err().var, "APP_URL", "{env}");
        let with_url = [
            no_url[0],
            no_url[1],
            no_url[2],
            ("APP_ENV", env),
            ("APP_URL", "https://staging.example.com"),
        ];
        assert_eq!(
            parse(&with_url).unwrap().app_url.as_deref(),
            Some("https://staging.example.com")
        );
    }
    // The development log mailer keeps the origin the request reached.
    assert_eq!(parse(&[("APP_ENV", "development")]).unwrap().app_url, None);
}

#[test]
fn the_session_copy_lives_seconds_at_most() {
    assert_eq!(parse(&[]).unwrap().session.cache_ms, 5_000);
    assert_eq!(
        parse(&[("SESSION_CACHE_SECS", "0")])
            .unwrap()
            .session
            .cache_ms,
        0
    );
    assert_eq!(
        parse(&[("SESSION_CACHE_SECS", "60")])
            .unwrap()
            .session
            .cache_ms,
        60_000
    );
    assert_eq!(
        parse(&[("SESSION_CACHE_SECS", "61")]).unwrap_err().var,
        "SESSION_CACHE_SECS"
    );
}
