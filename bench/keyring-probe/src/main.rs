//! Times the pieces of one Secret Service look-up as `git-credential-bitbucket`'s keyring store
//! makes it (keyring 4 with its zbus Secret Service store, which opens a Diffie-Hellman
//! session), and the alternatives. Run inside `scripts/with-keyring.sh` (a private, unlocked
//! gnome-keyring): it stores a 2,625-byte secret under a throw-away service name first.

use std::collections::HashMap;
use std::time::Instant;

use num::bigint::BigUint;
use num::integer::Integer;
use num::traits::{One, Zero};
use secret_service::EncryptionType;
use secret_service::blocking::SecretService;

const SERVICE: &str = "git:http://alice@keyring-probe.invalid/";
const ACCOUNT: &str = "alice";
const ROUNDS: usize = 30;

fn ms(from: Instant, to: Instant) -> f64 {
    (to - from).as_secs_f64() * 1e3
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn main() {
    // The store the helper's keyring store uses, as the helper makes its entries.
    let t0 = Instant::now();
    let ok = keyring::Entry::store_status().is_ok();
    let t1 = Instant::now();
    assert!(ok, "no Secret Service: run inside scripts/with-keyring.sh");
    let label = format!("git-credential-bitbucket: {SERVICE}");
    let modifiers = HashMap::from([("label", label.as_str())]);
    let entry = keyring_core::Entry::new_with_modifiers(SERVICE, ACCOUNT, &modifiers).expect("entry");
    let secret: String = (0..2625).map(|i| (b'a' + (i % 26) as u8) as char).collect();
    entry.set_password(&secret).expect("store the probe secret");
    let t2 = Instant::now();
    let got = entry.get_password().expect("read it back");
    let t3 = Instant::now();
    assert_eq!(got, secret);
    println!("keyring 4 default store, first use in this process (connect, DH session): {:6.2} ms", ms(t0, t1));
    println!("keyring 4 get_password of {} bytes (search + get secret + decrypt):     {:6.2} ms", got.len(), ms(t2, t3));

    // New connections, as each `get` process makes one: DH session vs plain session.
    for (name, dh) in [("dh-ietf1024 (as the store)", true), ("plain", false)] {
        let (mut connect, mut search, mut get) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..ROUNDS {
            let a = Instant::now();
            let encryption = if dh { EncryptionType::Dh } else { EncryptionType::Plain };
            let service = SecretService::connect(encryption).expect("connect");
            let b = Instant::now();
            let items = service
                .search_items(HashMap::from([("service", SERVICE), ("username", ACCOUNT)]))
                .expect("search");
            let c = Instant::now();
            let value = items.unlocked.first().expect("the probe item").get_secret().expect("secret");
            let d = Instant::now();
            assert_eq!(value.len(), secret.len());
            connect.push(ms(a, b));
            search.push(ms(b, c));
            get.push(ms(c, d));
        }
        println!(
            "new connection, {name:<27} median of {ROUNDS}: connect+session {:5.2} ms, search {:5.2} ms, get secret {:5.2} ms",
            median(connect),
            median(search),
            median(get)
        );
    }

    // The client's share of the DH session: secret-service 5.2's own square-and-multiply
    // (two per session: public key, shared secret) against num-bigint's modpow.
    let p = BigUint::parse_bytes(DH_PRIME_HEX.as_bytes(), 16).expect("prime");
    let g = BigUint::from(2u32);
    let mut bytes = [0u8; 128];
    getrandom_fill(&mut bytes);
    let x = BigUint::from_bytes_be(&bytes);
    let (mut naive, mut library) = (Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        let a = Instant::now();
        let r1 = powm_like_secret_service(&g, &x, &p);
        let b = Instant::now();
        let r2 = g.modpow(&x, &p);
        let c = Instant::now();
        assert_eq!(r1, r2);
        naive.push(ms(a, b));
        library.push(ms(b, c));
    }
    println!(
        "one 1024-bit modular exponentiation, median of {ROUNDS}: as secret-service 5.2 does it {:5.2} ms, BigUint::modpow {:5.2} ms",
        median(naive),
        median(library)
    );

    entry.delete_credential().expect("remove the probe secret");
}

/// secret-service 5.2's `session::powm`, copied to time it.
fn powm_like_secret_service(base: &BigUint, exp: &BigUint, modulus: &BigUint) -> BigUint {
    let mut base = base.clone();
    let mut exp = exp.clone();
    let mut result: BigUint = One::one();
    while !exp.is_zero() {
        if exp.is_odd() {
            result = (result * &base) % modulus;
        }
        exp >>= 1;
        base = (&base * &base) % modulus;
    }
    result
}

/// Not a secret: only an exponent of the right size for timing.
fn getrandom_fill(bytes: &mut [u8]) {
    let seed = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(1);
    let mut state = seed as u64 | 1;
    for b in bytes.iter_mut() {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        *b = state as u8;
    }
    bytes[0] |= 0x80;
}

/// RFC 2409's 1024-bit MODP group, the Secret Service's `dh-ietf1024-sha256-aes128-cbc-pkcs7`.
const DH_PRIME_HEX: &str = "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74020BBEA63B139B22514A08798E3404DDEF9519B3CD3A431B302B0A6DF25F14374FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7EDEE386BFB5A899FA5AE9F24117C4B1FE649286651ECE65381FFFFFFFFFFFFFFFF";
