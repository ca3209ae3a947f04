//! EXPOSE port specifications (`80`, `53/udp`, `8000-8002/tcp`, even the host-mapping
//! forms Docker tolerates) normalized to the image config's `port/proto` keys.
//!
//! Publishing ports is a runtime matter; the image only records what is exposed.

/// Expands one EXPOSE word into `port/proto` entries (ranges become one entry per port).
pub(crate) fn parse_port_spec(raw: &str) -> Result<Vec<String>, String> {
    let (ip, host_port, container) = split_parts(raw);
    let (port, proto) = container.split_once('/').unwrap_or((container, ""));
    if port.is_empty() {
        return Err(format!("no port specified: {raw}<empty>"));
    }
    let proto = proto.to_ascii_lowercase();
    let proto = match proto.as_str() {
        "" => "tcp",
        "tcp" | "udp" | "sctp" => proto.as_str(),
        _ => return Err(format!("invalid proto: {proto}")),
    };
    let ip = ip.trim_start_matches('[').trim_end_matches(']');
    if !ip.is_empty() && ip.parse::<std::net::IpAddr>().is_err() {
        return Err(format!("invalid IP address: {ip}"));
    }
    let (start, end) =
        parse_port_range(port).map_err(|_| format!("invalid containerPort: {port}"))?;
    if !host_port.is_empty() {
        let (host_start, host_end) =
            parse_port_range(host_port).map_err(|_| format!("invalid hostPort: {host_port}"))?;
        if end - start != host_end - host_start && end != start {
            return Err(format!(
                "invalid ranges specified for container and host Ports: {port} and {host_port}"
            ));
        }
    }
    Ok((start..=end).map(|p| format!("{p}/{proto}")).collect())
}

/// `[ip:]host:container` → (ip, host, container).
fn split_parts(raw: &str) -> (&str, &str, &str) {
    let parts: Vec<&str> = raw.split(':').collect();
    match parts.as_slice() {
        [container] => ("", "", container),
        [host, container] => ("", host, container),
        _ => {
            let container_at = raw.rfind(':').unwrap_or(0);
            let host_at = raw[..container_at].rfind(':').unwrap_or(0);
            (
                &raw[..host_at],
                &raw[host_at + 1..container_at],
                &raw[container_at + 1..],
            )
        }
    }
}

fn parse_port_range(ports: &str) -> Result<(u32, u32), ()> {
    let port = |s: &str| s.parse::<u16>().map(u32::from).map_err(|_| ());
    match ports.split_once('-') {
        None => port(ports).map(|p| (p, p)),
        Some((start, end)) => {
            let (start, end) = (port(start)?, port(end)?);
            if end < start {
                Err(())
            } else {
                Ok((start, end))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizes_ports_protocols_and_ranges() {
        assert_eq!(parse_port_spec("80").unwrap(), vec!["80/tcp"]);
        assert_eq!(parse_port_spec("53/UDP").unwrap(), vec!["53/udp"]);
        assert_eq!(
            parse_port_spec("8000-8002/sctp").unwrap(),
            vec!["8000/sctp", "8001/sctp", "8002/sctp"]
        );
        assert_eq!(parse_port_spec("8080:80").unwrap(), vec!["80/tcp"]);
        assert_eq!(
            parse_port_spec("127.0.0.1:8080:80/udp").unwrap(),
            vec!["80/udp"]
        );
        assert_eq!(parse_port_spec("[::1]:8080:80").unwrap(), vec!["80/tcp"]);
    }

    #[test]
    fn rejects_bad_specs() {
        for spec in [
            "",
            "/tcp",
            "80/icmp",
            "http",
            "70000",
            "90-80",
            "1.2.3:80:80",
            "1-3:5-9",
        ] {
            assert!(parse_port_spec(spec).is_err(), "{spec}");
        }
    }
}
