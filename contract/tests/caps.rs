//! Container root's capabilities in a real-root session, as data.

use session_contract::caps::{session, DOCKER};
use session_contract::request::Network;

#[test]
fn sessions_keep_dockers_set_less_raw_sockets_and_low_ports_on_the_host_network() {
    let docker: Vec<u8> = DOCKER.iter().map(|(n, _)| *n).collect();
    assert_eq!(session(Network::New, false), docker);
    assert_eq!(session(Network::Of(7), false), docker);
    let host = session(Network::Host, false);
    assert!(!host.contains(&13) && !host.contains(&10), "{host:?}");
    assert_eq!(host.len(), docker.len() - 2);
    let ports = session(Network::Host, true);
    assert!(!ports.contains(&13) && ports.contains(&10), "{ports:?}");
}

#[test]
fn both_programs_get_dockers_set_in_their_own_type_by_number() {
    let numbers: Vec<u8> = DOCKER.iter().map(|(n, _)| *n).collect();
    assert_eq!(session_contract::caps::docker_in(0..64u8, |n| *n), numbers);
}

#[test]
fn an_id_map_is_read_from_the_named_file() {
    let dir = std::env::temp_dir().join(format!("cd-contract-ids-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("subuid");
    std::fs::write(&file, "alice:100000:65536\n").unwrap();
    let file = file.to_str().unwrap();
    let map = session_contract::ids::id_map_from(file, "alice", 1000).unwrap();
    assert_eq!(map, "1000 0 1\n100000 1 65536\n");
    assert_eq!(session_contract::ids::id_map_from(file, "bob", 1001).unwrap(), "1001 0 1\n");
    let missing = dir.join("none");
    let e = session_contract::ids::id_map_from(missing.to_str().unwrap(), "alice", 1000);
    assert_eq!(e.unwrap_err().rule, session_contract::refusal::Rule::Setup);
    std::fs::remove_dir_all(&dir).unwrap();
}
