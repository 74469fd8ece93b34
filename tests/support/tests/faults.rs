//! Fault injection and the request log: injected statuses, garbage, redirects, broken
//! connections and delays (cut short when the fake is dropped), and a log that holds no
//! secret.

use std::time::{Duration, Instant};

use bitbucket_test_support::client::{self, basic_auth};
use bitbucket_test_support::{FakeBitbucket, Fault, FaultTimes, Gate, Mode, RequestKind, User};

fn cloud() -> FakeBitbucket {
    let fake = FakeBitbucket::start(Mode::Cloud);
    fake.add_user(User::new("alice", "alice@example.com").with_api_token("api-token"));
    fake
}

fn user_status(fake: &FakeBitbucket) -> u16 {
    let auth = basic_auth("alice@example.com", "api-token");
    client::request("GET", &format!("{}/2.0/user", fake.base_url()), &[("Authorization", &auth)], &[])
        .expect("request")
        .status
}

#[test]
fn status_faults_apply_the_given_number_of_times() {
    let fake = cloud();
    fake.inject("/2.0/", Fault::Status(500), FaultTimes::Once);
    fake.inject("/2.0/user", Fault::Status(429), FaultTimes::Times(2));

    let seen: Vec<u16> = (0..4).map(|_| user_status(&fake)).collect();

    assert_eq!(seen, vec![500, 429, 429, 200]);
    let logged: Vec<u16> = fake.requests().iter().map(|r| r.status).collect();
    assert_eq!(logged, seen);
    assert_eq!(fake.pending_faults(), 0);
}

#[test]
fn always_faults_last_until_cleared() {
    let fake = cloud();
    fake.inject("/2.0/user", Fault::Garbage, FaultTimes::Always);
    let url = format!("{}/2.0/user", fake.base_url());
    for _ in 0..2 {
        let garbage = client::get(&url).expect("request");
        assert_eq!(garbage.status, 200);
        assert!(garbage.json().is_err(), "{}", garbage.text());
    }
    assert_eq!(fake.pending_faults(), 1);

    fake.clear_faults();
    fake.inject(
        "/site/oauth2/access_token",
        Fault::RedirectTo("http://evil.example/steal".into()),
        FaultTimes::Once,
    );
    let redirected = client::post_form(
        &format!("{}/site/oauth2/access_token", fake.base_url()),
        &[],
        &[("grant_type", "refresh_token")],
    )
    .expect("request");
    assert_eq!(redirected.status, 302);
    assert_eq!(redirected.header("Location"), Some("http://evil.example/steal"));
}

#[test]
fn delay_ends_when_the_fake_is_dropped() {
    let fake = cloud();
    fake.inject("/2.0/user", Fault::Delay(Duration::from_secs(600)), FaultTimes::Once);
    let url = format!("{}/2.0/user", fake.base_url());
    let started = Instant::now();
    let waiting = std::thread::spawn(move || client::get(&url));

    // Bounded wait until the request has reached its fault.
    let deadline = Instant::now() + Duration::from_secs(10);
    while fake.pending_faults() > 0 {
        assert!(Instant::now() < deadline, "the request never reached the fault");
        std::thread::yield_now();
    }
    drop(fake);

    let answer = waiting.join().expect("client thread");
    assert!(started.elapsed() < Duration::from_secs(30));
    // Either a 503 or a closed connection: what matters is that it did not wait 600 s.
    if let Ok(answer) = answer {
        assert_eq!(answer.status, 503);
    }
}

#[test]
fn answer_late_rotates_first_then_holds_the_answer() {
    let fake = cloud();
    fake.add_consumer("key", "secret", "http://localhost/");
    let refresh = fake.issue_refresh_token("alice", "key");
    let gate = Gate::default();
    let hold = Duration::from_secs(2);
    fake.inject("/site/oauth2/access_token", Fault::AnswerLate(hold, gate.clone()), FaultTimes::Once);
    let url = format!("{}/site/oauth2/access_token", fake.base_url());
    let started = Instant::now();
    let waiting = std::thread::spawn(move || {
        let auth = basic_auth("key", "secret");
        let form = [("grant_type", "refresh_token"), ("refresh_token", refresh.as_str())];
        client::post_form(&url, &[("Authorization", &auth)], &form).expect("request")
    });

    assert!(gate.wait_for_arrival(Duration::from_secs(10)), "the fake acted on the request");
    assert_eq!(fake.refresh_tokens_issued(), 1, "rotated before the answer left");
    assert!(!waiting.is_finished(), "the answer is still held back");
    let answer = waiting.join().expect("client thread");
    assert_eq!(answer.status, 200, "{}", answer.text());
    assert_eq!(answer.json().unwrap()["refresh_token"].as_str(), fake.last_refresh_token("alice").as_deref());
    assert!(started.elapsed() >= hold, "the answer was held back");
}

#[test]
fn request_log_holds_no_secret() {
    let fake = cloud();
    let token = fake.issue_access_token("alice", 60);
    client::request(
        "GET",
        &format!("{}/2.0/user?secret=query-secret", fake.base_url()),
        &[("Authorization", &format!("Bearer {token}"))],
        &[],
    )
    .expect("request");

    let log = format!("{:?}", fake.requests());

    assert!(!log.contains(&token));
    assert!(!log.contains("query-secret"));
    assert_eq!(fake.requests()[0].authorization_scheme.as_deref(), Some("Bearer"));
    assert_eq!(fake.requests()[0].path, "/2.0/user");
    assert_eq!(fake.count(RequestKind::Rest), 1);
    fake.reset_log();
    assert!(fake.requests().is_empty());
}

#[test]
fn unknown_paths_are_other() {
    let fake = cloud();
    let answer = client::get(&format!("{}/favicon.ico", fake.base_url())).expect("request");
    assert_eq!(answer.status, 404);
    assert_eq!(fake.counts().other, 1);
    assert_eq!(fake.counts().to_string(), "git=0 rest=0 token=0 authorize=0 other=1");
}

#[test]
fn a_broken_connection_fails_the_request_and_is_logged_with_status_0() {
    let fake = cloud();
    fake.inject("/2.0/user", Fault::BrokenConnection, FaultTimes::Once);
    let url = format!("{}/2.0/user", fake.base_url());
    assert!(client::get(&url).is_err(), "no HTTP answer at all");
    assert_eq!(fake.requests().iter().map(|r| r.status).collect::<Vec<_>>(), [0]);
    assert_eq!(user_status(&fake), 200, "the next request is answered");
}
