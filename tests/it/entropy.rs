//! The first TLS handshake of a cold start pays no CPU-jitter entropy collection (80 to 120 ms of
//! CPU, docs/measured.md): `.cargo/config.toml` builds AWS-LC with `AWS_LC_SYS_NO_JITTER_ENTROPY`,
//! and this asks the AWS-LC linked into this build which entropy source it uses. The test binary
//! and the shipped one are built by cargo from the same configuration.

#[test]
fn the_tls_library_does_not_collect_cpu_jitter_entropy() {
    // SAFETY: a query without arguments; it reads AWS-LC's configured entropy source.
    let jitter = unsafe { aws_lc_sys::FIPS_is_entropy_cpu_jitter() };
    assert_eq!(
        jitter, 0,
        "AWS-LC seeds from CPU jitter: is AWS_LC_SYS_NO_JITTER_ENTROPY=1 still in .cargo/config.toml [env]?"
    );
}
