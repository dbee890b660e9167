//! The device metadata a session records when a user signs in.

use crate::record::Device;

use super::state::RequestFacts;

/// The device metadata of the request's client: a short User-Agent summary, and the IP only
/// when the application opted in.
pub(super) fn device(request: &RequestFacts, record_ip: bool) -> Device {
    Device {
        user_agent: request
            .user_agent
            .as_ref()
            .and_then(|v| v.to_str().ok())
            .map(summarize_user_agent),
        ip: request
            .client_ip
            .filter(|_| record_ip)
            .map(|ip| ip.to_string()),
    }
}

/// "Firefox on Linux" from a User-Agent header: enough for a "your devices" page, and short, so
/// stores never keep a long fingerprint.
fn summarize_user_agent(user_agent: &str) -> String {
    const BROWSERS: [(&str, &str); 8] = [
        ("Edg/", "Edge"),
        ("OPR/", "Opera"),
        ("Firefox/", "Firefox"),
        ("Chrome/", "Chrome"),
        ("Safari/", "Safari"),
        ("curl/", "curl"),
        ("reqwest", "reqwest"),
        ("Wget/", "Wget"),
    ];
    const SYSTEMS: [(&str, &str); 6] = [
        ("Android", "Android"),
        ("iPhone", "iOS"),
        ("iPad", "iPadOS"),
        ("Windows", "Windows"),
        ("Mac OS X", "macOS"),
        ("Linux", "Linux"),
    ];
    let browser = BROWSERS
        .iter()
        .find(|(marker, _)| user_agent.contains(marker))
        .map(|(_, name)| *name);
    let system = SYSTEMS
        .iter()
        .find(|(marker, _)| user_agent.contains(marker))
        .map(|(_, name)| *name);
    match (browser, system) {
        (Some(browser), Some(system)) => format!("{browser} on {system}"),
        (Some(browser), None) => browser.to_owned(),
        (None, Some(system)) => format!("a browser on {system}"),
        (None, None) => user_agent.chars().take(40).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::summarize_user_agent;

    #[test]
    fn user_agents_become_short_summaries() {
        let firefox = "Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0";
        assert_eq!(summarize_user_agent(firefox), "Firefox on Linux");
        assert_eq!(summarize_user_agent("curl/8.4.0"), "curl");
        let long = "x".repeat(100);
        assert_eq!(summarize_user_agent(&long).len(), 40);
    }
}
