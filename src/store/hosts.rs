//! Several database hosts behind one store: `mysql://user:pass@db1:3306,db2:3306,db3/wardgate`
//! names a list of servers (a Galera cluster's nodes, or a primary and its standby), tried in
//! order at start-up; when the one in use stops answering, [`Store::failover`] moves the pool
//! to the first other host that answers.
//!
//! Why in the store and not a proxy: a hospital door has no load balancer in front of its
//! database, and a controller that keeps deciding from memory only needs *some* node to write
//! its events and read the change feed.

/// Splits a URL with a comma-separated host list into one URL per host, in order. A URL with
/// one host (or a SQLite path) comes back unchanged.
pub fn split_hosts(url: &str) -> Vec<String> {
    let Some((scheme, rest)) = url.split_once("://") else {
        return vec![url.to_owned()];
    };
    if scheme.starts_with("sqlite") {
        return vec![url.to_owned()];
    }
    // The authority ends at the first '/' or '?' after the user info (a password with either
    // must be percent-encoded, as in any URL).
    let (userinfo, after) = match rest.rfind('@') {
        Some(at) if !rest[..at].contains('/') => (Some(&rest[..at]), &rest[at + 1..]),
        _ => (None, rest),
    };
    let end = after.find(['/', '?']).unwrap_or(after.len());
    let (hosts, tail) = after.split_at(end);
    let hosts: Vec<&str> = hosts
        .split(',')
        .map(str::trim)
        .filter(|h| !h.is_empty())
        .collect();
    if hosts.len() <= 1 {
        return vec![url.to_owned()];
    }
    hosts
        .into_iter()
        .map(|h| match userinfo {
            Some(u) => format!("{scheme}://{u}@{h}{tail}"),
            None => format!("{scheme}://{h}{tail}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::split_hosts;

    #[test]
    fn one_host_is_unchanged() {
        for u in [
            "mysql://root@127.0.0.1:3306/wg",
            "sqlite://var/a,b.db?mode=rwc",
            "mysql://u:p@db/wg?ssl-mode=required",
        ] {
            assert_eq!(split_hosts(u), vec![u.to_owned()]);
        }
    }

    #[test]
    fn host_list_keeps_credentials_path_and_options_in_order() {
        assert_eq!(
            split_hosts("mysql://wg:s3cret@db1:3306,db2:3307, db3/wardgate?ssl-mode=required"),
            vec![
                "mysql://wg:s3cret@db1:3306/wardgate?ssl-mode=required",
                "mysql://wg:s3cret@db2:3307/wardgate?ssl-mode=required",
                "mysql://wg:s3cret@db3/wardgate?ssl-mode=required",
            ]
        );
        assert_eq!(
            split_hosts("mariadb://a:1,b:2"),
            vec!["mariadb://a:1", "mariadb://b:2"]
        );
    }
}
