//! `KEYHOLE_TRUSTED_PROXIES`: the proxies whose `X-Forwarded-*` headers the
//! forward-auth routes (`/forward-auth`, `/ext-authz/`) believe. `/auth` never reads
//! `X-Forwarded-*`, so nginx setups need nothing here.

use super::RawConfig;
use super::table::TRUSTED_PROXIES;
use crate::forwarded::TrustedProxies;

/// The trusted networks; `None` when the list does not parse (reported).
pub(super) fn trusted_proxies(
    raw: &RawConfig,
    report: &mut impl FnMut(&'static str, String),
) -> Option<TrustedProxies> {
    let text = raw
        .trusted_proxies
        .as_deref()
        .unwrap_or(const { TRUSTED_PROXIES.default_text() });
    TrustedProxies::parse(text)
        .map_err(|message| {
            report(
                TRUSTED_PROXIES.name,
                format!("{message}; write a comma-separated list such as `127.0.0.1/32,10.0.0.0/8` (empty: trust no proxy)"),
            );
        })
        .ok()
}

#[cfg(test)]
mod tests {
    use crate::config::Config;

    fn from(vars: &[(&str, &str)]) -> Result<Config, crate::config::ConfigError> {
        let key = "k1:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8";
        let mut all = vec![("KEYHOLE_KEYS".to_owned(), key.to_owned())];
        all.extend(vars.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())));
        Config::from_vars(all)
    }

    #[test]
    fn loopback_by_default_and_a_bad_item_reported() {
        let config = from(&[]).unwrap();
        assert!(
            config
                .server
                .trusted_proxies
                .contains("127.0.0.1".parse().unwrap())
        );
        assert!(
            !config
                .server
                .trusted_proxies
                .contains("10.0.0.1".parse().unwrap())
        );
        let config = from(&[("KEYHOLE_TRUSTED_PROXIES", "10.0.0.0/8")]).unwrap();
        assert!(
            config
                .server
                .trusted_proxies
                .contains("10.0.0.1".parse().unwrap())
        );
        assert!(
            !config
                .server
                .trusted_proxies
                .contains("127.0.0.1".parse().unwrap())
        );
        let error = from(&[("KEYHOLE_TRUSTED_PROXIES", "10.0.0.0/8,proxy.local")]).unwrap_err();
        assert_eq!(error.problems.len(), 1);
        assert_eq!(error.problems[0].variable, "KEYHOLE_TRUSTED_PROXIES");
        assert!(error.problems[0].message.contains("proxy.local"));
    }
}
