//! Image references as Docker reads them: `[registry/]path[:tag][@digest]`,
//! normalised (`ubuntu` → `docker.io/library/ubuntu:latest`).
//!
//! Our own grammar walk instead of oci-spec's `Reference::from_str`: that
//! one compiles a large regex on first use, about 35 ms of CPU at the start
//! of every registry install. The rules are distribution's
//! (`reference/regexp.go`), applied component by component, which also
//! names what is wrong: an uppercase repository, a bad tag, a bad digest.

pub use oci_client::Reference;

const DOCKER_HUB: &str = "docker.io";
const DOCKER_HUB_LEGACY: &str = "index.docker.io";
const NAME_MAX: usize = 255;
const TAG_MAX: usize = 128;

/// Parses `text` into a normalised reference; the error says which part
/// is malformed.
pub fn parse(text: &str) -> Result<Reference, String> {
    if text.is_empty() {
        return Err("the reference is empty".into());
    }
    let (rest, digest) = match text.split_once('@') {
        Some((rest, digest)) => (rest, Some(check_digest(digest)?)),
        None => (text, None),
    };
    // A colon after the last slash starts the tag; one before it belongs
    // to a registry port.
    let (name, tag) = match rest.rfind(':') {
        Some(i) if rest[i..].find('/').is_none() => (&rest[..i], Some(check_tag(&rest[i + 1..])?)),
        _ => (rest, None),
    };
    if name.is_empty() {
        return Err("the repository name is missing".into());
    }
    let (registry, path) = match name.split_once('/') {
        Some((first, path)) if first.contains(['.', ':']) || first == "localhost" => {
            check_registry(first)?;
            (first, path)
        }
        _ => (DOCKER_HUB, name),
    };
    for component in path.split('/') {
        check_component(component)?;
    }
    let registry = if registry == DOCKER_HUB_LEGACY {
        DOCKER_HUB
    } else {
        registry
    };
    let repository = if registry == DOCKER_HUB && !path.contains('/') {
        format!("library/{path}")
    } else {
        path.to_owned()
    };
    if repository.len() > NAME_MAX {
        return Err(format!(
            "the repository name is longer than {NAME_MAX} characters"
        ));
    }
    let registry = registry.to_owned();
    Ok(match (tag, digest) {
        (Some(t), Some(d)) => Reference::with_tag_and_digest(registry, repository, t, d),
        (None, Some(d)) => Reference::with_digest(registry, repository, d),
        (t, None) => Reference::with_tag(registry, repository, t.unwrap_or("latest".into())),
    })
}

/// `sha256:` and 64 lowercase hex digits: the only digest the store keys
/// blobs by.
fn check_digest(d: &str) -> Result<String, String> {
    if super::Digest::parse(d).is_some() {
        return Ok(d.to_owned());
    }
    match d.split_once(':') {
        Some(("sha256", _)) => Err(format!(
            "digest '{d}' is not sha256: and 64 lowercase hex digits"
        )),
        Some((alg, _)) => Err(format!(
            "unsupported digest algorithm '{alg}' (only sha256)"
        )),
        None => Err(format!("digest '{d}' has no algorithm (sha256:...)")),
    }
}

/// `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`.
fn check_tag(t: &str) -> Result<String, String> {
    let word = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    let ok = t.len() <= TAG_MAX
        && t.bytes().next().is_some_and(word)
        && t.bytes().all(|b| word(b) || b == b'.' || b == b'-');
    if ok {
        Ok(t.to_owned())
    } else {
        Err(format!(
            "invalid tag '{t}' (letters, digits, _ . -, at most {TAG_MAX}, not starting with . or -)"
        ))
    }
}

/// `host[:port]`, the host made of dot-separated labels of letters, digits
/// and inner hyphens.
fn check_registry(r: &str) -> Result<(), String> {
    let (host, port) = match r.split_once(':') {
        Some((h, p)) => (h, Some(p)),
        None => (r, None),
    };
    let label = |l: &str| {
        !l.is_empty()
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    let port_ok = port.is_none_or(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
    if host.split('.').all(label) && port_ok {
        Ok(())
    } else {
        Err(format!("invalid registry '{r}'"))
    }
}

/// Lowercase letters and digits, runs of them joined by `.`, `_`, `__` or
/// any number of `-`.
fn check_component(c: &str) -> Result<(), String> {
    if c.bytes().any(|b| b.is_ascii_uppercase()) {
        return Err(format!("repository name '{c}' must be lowercase"));
    }
    let alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    let bytes = c.as_bytes();
    let mut ok =
        bytes.first().copied().is_some_and(alnum) && bytes.last().copied().is_some_and(alnum);
    let mut i = 0;
    while ok && i < bytes.len() {
        let start = i;
        while i < bytes.len() && !alnum(bytes[i]) {
            i += 1;
        }
        let sep = &c[start..i];
        ok = sep.is_empty()
            || sep == "."
            || sep == "_"
            || sep == "__"
            || sep.bytes().all(|b| b == b'-');
        i += 1;
    }
    if ok {
        Ok(())
    } else {
        Err(format!("invalid repository name component '{c}'"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn whole(text: &str) -> String {
        parse(text)
            .unwrap_or_else(|e| panic!("{text}: {e}"))
            .whole()
    }

    #[test]
    fn normalises_as_docker_does() {
        let h = "f".repeat(64);
        for (input, want) in [
            ("ubuntu", "docker.io/library/ubuntu:latest".to_owned()),
            ("ubuntu:24.04", "docker.io/library/ubuntu:24.04".into()),
            ("user/img:tag", "docker.io/user/img:tag".into()),
            (
                "index.docker.io/library/debian",
                "docker.io/library/debian:latest".into(),
            ),
            ("ghcr.io/foo/bar:latest", "ghcr.io/foo/bar:latest".into()),
            (
                "127.0.0.1:5443/cd/busybox",
                "127.0.0.1:5443/cd/busybox:latest".into(),
            ),
            ("localhost/img", "localhost/img:latest".into()),
            ("test.com:tag", "docker.io/library/test.com:tag".into()),
            ("test.com:5000", "docker.io/library/test.com:5000".into()),
            ("test:5000/repo:tag", "test:5000/repo:tag".into()),
            (
                "lowercase:Uppercase",
                "docker.io/library/lowercase:Uppercase".into(),
            ),
            (
                "sub-dom1.foo.com/bar/baz/quux:some-long-tag",
                "sub-dom1.foo.com/bar/baz/quux:some-long-tag".into(),
            ),
            (
                "b.gcr.io/test.example.com/my-app:test.example.com",
                "b.gcr.io/test.example.com/my-app:test.example.com".into(),
            ),
            (
                "xn--n3h.com/myimage:xn--n3h.com",
                "xn--n3h.com/myimage:xn--n3h.com".into(),
            ),
            (
                "foo_bar.com:8080",
                "docker.io/library/foo_bar.com:8080".into(),
            ),
            ("a__b/c---d.e", "docker.io/a__b/c---d.e:latest".into()),
            (
                &format!("alpine@sha256:{h}"),
                format!("docker.io/library/alpine@sha256:{h}"),
            ),
            (
                &format!("test:5000/repo:tag@sha256:{h}"),
                format!("test:5000/repo:tag@sha256:{h}"),
            ),
        ] {
            assert_eq!(whole(input), want, "{input}");
        }
        let r = parse(&format!("alpine@sha256:{h}")).unwrap();
        assert_eq!(r.registry(), "docker.io");
        assert_eq!(r.repository(), "library/alpine");
        assert_eq!(r.tag(), None);
        assert_eq!(r.digest().map(str::len), Some(71));
    }

    #[test]
    fn says_what_is_wrong() {
        let h = "f".repeat(64);
        for (input, says) in [
            ("", "empty"),
            (":justtag", "missing"),
            (&format!("@sha256:{h}"), "missing"),
            ("repo@sha256:ffff", "64 lowercase hex"),
            (&format!("repo@sha512:{h}"), "only sha256"),
            ("repo@ffff", "no algorithm"),
            ("Uppercase:tag", "must be lowercase"),
            ("Uppercase/lowercase:tag", "must be lowercase"),
            ("test:5000/Uppercase/lowercase:tag", "must be lowercase"),
            (&"a".repeat(256), "longer than 255"),
            ("aa/asdf$$^/aa", "invalid repository name component"),
            ("bad image name", "invalid repository name component"),
            ("repo:-tag", "invalid tag"),
            (&format!("repo:{}", "t".repeat(129)), "invalid tag"),
            ("bad_host.com/x", "invalid registry"),
            ("host:port/x", "invalid registry"),
            ("a//b", "invalid repository name component"),
            ("a/b.", "invalid repository name component"),
            ("a/b..c", "invalid repository name component"),
            ("a/b___c", "invalid repository name component"),
        ] {
            let e = parse(input).expect_err(input);
            assert!(e.contains(says), "{input}: {e}");
        }
    }

    #[test]
    fn agrees_with_oci_spec_on_valid_references() {
        for input in [
            "busybox",
            "a/b/c/d:1.0",
            "host.example:5000/a/b/c:t",
            "my-registry.local/x_y/z-w:v1.2.3-rc_1",
            "localhost:5000/hello-wasm:v1",
        ] {
            let theirs: Reference = input.parse().unwrap();
            assert_eq!(parse(input).unwrap(), theirs, "{input}");
        }
    }
}
