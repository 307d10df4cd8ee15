//! Connection commands: PING ECHO QUIT HELLO AUTH SELECT CLIENT ACL — their
//! sub-commands and options read for `command.rs`, and the handlers. They change
//! only the session (protocol, identity, name), never the cache.
//!
//! Authentication follows Redis's ACL users, with Roost's credentials
//! (`crate::auth`): `AUTH <user> <secret>` checks that user's secret, and
//! `AUTH <secret>` (Redis's requirepass form) finds whichever user the secret
//! belongs to — `ROOST_RESP_PASSWORD` is user `default`, `ROOST_ADMIN_TOKEN`
//! user `admin`. The user's role then decides which commands run (NOPERM
//! otherwise). Failed attempts are counted and logged at most once per
//! interval.

use super::dispatch::{integer, is, refused, Cx};
use super::reply::RespError;
use bytes::Bytes;
use roost_resp::{
    write_array_header, write_bulk, write_integer, write_map_header, write_simple, write_verbatim,
    Protocol,
};

/// Longest client name CLIENT SETNAME and HELLO SETNAME accept.
pub const MAX_CLIENT_NAME: usize = 256;

/// The Redis version Roost answers as: the command set and reply shapes are
/// Redis 7.0's, and clients pick features by it.
pub const REDIS_VERSION: &str = "7.0.0";

pub fn ping(cx: &mut Cx<'_>, message: Option<&Bytes>) -> Result<(), RespError> {
    match message {
        None => write_simple(cx.out, b"PONG"),
        Some(message) => write_bulk(cx.out, message),
    }
    Ok(())
}

pub fn echo(cx: &mut Cx<'_>, message: &Bytes) -> Result<(), RespError> {
    write_bulk(cx.out, message);
    Ok(())
}

pub fn quit(cx: &mut Cx<'_>) -> Result<(), RespError> {
    cx.ok();
    cx.session.closing = true;
    Ok(())
}

/// AUTH [user] password; `None` is the one-argument (requirepass) form.
pub fn auth(cx: &mut Cx<'_>, user: Option<&Bytes>, password: &Bytes) -> Result<(), RespError> {
    authenticate(cx, user.map(|u| &u[..]), password)?;
    cx.ok();
    Ok(())
}

/// Checks a user and password; `None` is the one-argument `AUTH <password>` form.
fn authenticate(cx: &mut Cx<'_>, user: Option<&[u8]>, password: &[u8]) -> Result<(), RespError> {
    let auth = cx.state.app.auth.load();
    if !auth.is_enabled() {
        // No credentials: Redis's `default` user with nopass accepts any
        // password given with its name, and refuses the requirepass form.
        return match user {
            None => Err(RespError::NoPasswordConfigured),
            Some(_) => Ok(()),
        };
    }
    let identity = match user {
        None => auth.by_secret(password),
        Some(user) => auth.by_user(user, password),
    };
    match identity {
        Some(identity) => {
            cx.session.become_user(identity);
            Ok(())
        }
        None => {
            refused(cx, "wrong user or token", "auth");
            Err(RespError::WrongPass)
        }
    }
}

/// ACL's sub-commands Roost has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AclCommand {
    WhoAmI,
    Help,
}

impl AclCommand {
    pub fn parse(argv: &[Bytes]) -> Result<AclCommand, RespError> {
        let sub = &argv[1];
        if is(sub, "WHOAMI") && argv.len() == 2 {
            Ok(AclCommand::WhoAmI)
        } else if is(sub, "WHOAMI") {
            Err(RespError::WrongArity("acl|whoami"))
        } else if is(sub, "HELP") {
            Ok(AclCommand::Help)
        } else {
            Err(RespError::unknown_subcommand("ACL", sub))
        }
    }
}

/// ACL WHOAMI | HELP: the user the connection is authenticated as.
pub fn acl(cx: &mut Cx<'_>, sub: AclCommand) -> Result<(), RespError> {
    match sub {
        AclCommand::WhoAmI => {
            let user = cx
                .session
                .identity
                .as_ref()
                .map_or_else(|| "default".into(), |i| i.user.clone());
            write_bulk(cx.out, user.as_bytes());
        }
        AclCommand::Help => write_lines(
            cx,
            &[
                b"ACL <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
                b"WHOAMI, HELP (users and roles are configured: ROOST_API_TOKENS, ROOST_API_TOKENS_FILE)",
            ],
        ),
    }
    Ok(())
}

/// HELLO [protover [AUTH user password] [SETNAME name]], read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hello<'a> {
    /// `None` keeps the connection's protocol.
    pub protocol: Option<Protocol>,
    pub options: HelloOptions<'a>,
}

impl<'a> Hello<'a> {
    pub fn parse(argv: &'a [Bytes]) -> Result<Hello<'a>, RespError> {
        let protocol = match argv.get(1) {
            None => None,
            Some(version) => match integer(version).map_err(|_| RespError::ProtocolNotAnInteger)? {
                2 => Some(Protocol::Resp2),
                3 => Some(Protocol::Resp3),
                _ => return Err(RespError::UnsupportedProtocol),
            },
        };
        let options = HelloOptions {
            rest: argv.get(2..).unwrap_or_default(),
        };
        Ok(Hello { protocol, options })
    }
}

/// HELLO's options, in order, each read as it is acted on: Redis 7.0 acts on
/// an AUTH before it reads the next option, so `HELLO 3 AUTH u p BAD`
/// authenticates and then answers the syntax error. After an error it ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HelloOptions<'a> {
    rest: &'a [Bytes],
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HelloOption<'a> {
    Auth {
        user: &'a Bytes,
        password: &'a Bytes,
    },
    SetName(&'a str),
}

impl<'a> Iterator for HelloOptions<'a> {
    type Item = Result<HelloOption<'a>, RespError>;

    fn next(&mut self) -> Option<Self::Item> {
        let (option, rest) = self.rest.split_first()?;
        let (item, used) = match rest {
            [user, password, ..] if is(option, "AUTH") => {
                (Ok(HelloOption::Auth { user, password }), 3)
            }
            [name, ..] if is(option, "SETNAME") => (client_name(name).map(HelloOption::SetName), 2),
            _ => {
                let option = String::from_utf8_lossy(option).into_owned();
                (Err(RespError::HelloSyntax(option)), 1)
            }
        };
        self.rest = match item {
            Ok(_) => &self.rest[used..],
            Err(_) => &[],
        };
        Some(item)
    }
}

pub fn hello(cx: &mut Cx<'_>, hello: Hello<'_>) -> Result<(), RespError> {
    let protocol = hello.protocol.unwrap_or(cx.session.protocol);
    let mut name = None;
    for option in hello.options {
        match option? {
            HelloOption::Auth { user, password } => authenticate(cx, Some(user), password)?,
            HelloOption::SetName(new) => name = Some(new),
        }
    }
    if !cx.session.authenticated() {
        return Err(RespError::NoAuthHello);
    }
    cx.session.set_protocol(protocol);
    if let Some(name) = name {
        cx.session.client.set_name(name);
    }
    let proto = if protocol == Protocol::Resp3 { 3 } else { 2 };
    let out = &mut *cx.out;
    write_map_header(out, 7, protocol);
    write_bulk(out, b"server");
    write_bulk(out, b"roost");
    write_bulk(out, b"version");
    write_bulk(out, REDIS_VERSION.as_bytes());
    write_bulk(out, b"proto");
    write_integer(out, proto);
    write_bulk(out, b"id");
    write_integer(out, cx.session.client.id as i64);
    write_bulk(out, b"mode");
    write_bulk(out, b"standalone");
    write_bulk(out, b"role");
    write_bulk(out, b"master");
    write_bulk(out, b"modules");
    write_array_header(out, 0);
    Ok(())
}

/// CLIENT's sub-commands Roost has, read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientCommand<'a> {
    SetName(&'a str),
    GetName,
    Id,
    Info,
    List,
    /// Client libraries announce themselves; accepted and not kept.
    SetInfo,
    Help,
}

impl<'a> ClientCommand<'a> {
    /// CLIENT SETNAME | GETNAME | ID | INFO | LIST | SETINFO | HELP
    pub fn parse(argv: &'a [Bytes]) -> Result<ClientCommand<'a>, RespError> {
        let sub = &argv[1];
        let argc = argv.len();
        let arity =
            |ok: bool, name: &'static str| ok.then_some(()).ok_or(RespError::WrongArity(name));
        Ok(if is(sub, "SETNAME") {
            arity(argc == 3, "client|setname")?;
            ClientCommand::SetName(client_name(&argv[2])?)
        } else if is(sub, "GETNAME") {
            arity(argc == 2, "client|getname")?;
            ClientCommand::GetName
        } else if is(sub, "ID") {
            arity(argc == 2, "client|id")?;
            ClientCommand::Id
        } else if is(sub, "INFO") {
            arity(argc == 2, "client|info")?;
            ClientCommand::Info
        } else if is(sub, "LIST") {
            ClientCommand::List
        } else if is(sub, "SETINFO") {
            arity(argc == 4, "client|setinfo")?;
            ClientCommand::SetInfo
        } else if is(sub, "HELP") {
            ClientCommand::Help
        } else {
            return Err(RespError::unknown_subcommand("CLIENT", sub));
        })
    }
}

pub fn client(cx: &mut Cx<'_>, sub: ClientCommand<'_>) -> Result<(), RespError> {
    match sub {
        ClientCommand::SetName(name) => {
            cx.session.client.set_name(name);
            cx.ok();
        }
        ClientCommand::GetName => match cx.session.client.name() {
            name if name.is_empty() => cx.null(),
            name => write_bulk(cx.out, name.as_bytes()),
        },
        ClientCommand::Id => write_integer(cx.out, cx.session.client.id as i64),
        ClientCommand::Info => {
            let line = cx.session.client.describe() + "\n";
            write_verbatim(cx.out, *b"txt", line.as_bytes(), cx.session.protocol);
        }
        ClientCommand::List => {
            let text = cx.state.clients.describe_all();
            write_verbatim(cx.out, *b"txt", text.as_bytes(), cx.session.protocol);
        }
        ClientCommand::SetInfo => cx.ok(),
        ClientCommand::Help => write_lines(
            cx,
            &[
                b"CLIENT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
                b"GETNAME, SETNAME <name>, ID, INFO, LIST, SETINFO <attr> <value>, HELP",
            ],
        ),
    }
    Ok(())
}

/// A HELP answer: an array of simple strings.
fn write_lines(cx: &mut Cx<'_>, lines: &[&[u8]]) {
    write_array_header(cx.out, lines.len());
    for line in lines {
        write_simple(cx.out, line);
    }
}

/// A client name as Redis allows it: printable ASCII without spaces, and at
/// most [`MAX_CLIENT_NAME`] bytes (so CLIENT LIST stays small).
fn client_name(name: &[u8]) -> Result<&str, RespError> {
    if name.len() > MAX_CLIENT_NAME {
        return Err(RespError::ClientNameTooLong(MAX_CLIENT_NAME));
    }
    if name.iter().any(|&c| !(b'!'..=b'~').contains(&c)) {
        return Err(RespError::BadClientName);
    }
    std::str::from_utf8(name).map_err(|_| RespError::BadClientName)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::resp::command::Command;
    use crate::api::resp::testing::Harness;

    #[tokio::test]
    async fn ping_echo_select_and_quit() {
        let mut h = Harness::new();
        let hi = Bytes::from_static(b"hi");
        assert_eq!(h.apply(Command::Ping { message: None }).await, "+PONG\r\n");
        let ping = Command::Ping { message: Some(&hi) };
        assert_eq!(h.apply(ping).await, "$2\r\nhi\r\n");
        assert_eq!(
            h.apply(Command::Echo { message: &hi }).await,
            "$2\r\nhi\r\n"
        );
        assert_eq!(h.send(&["SELECT", "0"]).await, "+OK\r\n");
        assert!(!h.session.closing);
        assert_eq!(h.apply(Command::Quit).await, "+OK\r\n");
        assert!(h.session.closing, "QUIT closes after its reply");
    }

    #[tokio::test]
    async fn hello_acts_on_each_option_before_reading_the_next_as_redis_7_0() {
        let mut h = Harness::with_env(&[("ROOST_RESP_PASSWORD", "pw")]);
        assert_eq!(
            h.send(&["HELLO", "3", "AUTH", "default", "wrong", "BAD"])
                .await,
            "-WRONGPASS invalid username-password pair or user is disabled.\r\n"
        );
        assert_eq!(
            h.send(&["HELLO", "3", "AUTH", "default", "pw", "BAD"])
                .await,
            "-ERR Syntax error in HELLO option 'BAD'\r\n"
        );
        assert!(h.session.authenticated(), "the AUTH before it took effect");
        assert_eq!(h.send(&["PING"]).await, "+PONG\r\n");
        assert_eq!(
            h.session.protocol,
            Protocol::Resp2,
            "the protocol is switched only by a HELLO that succeeds"
        );
    }

    #[tokio::test]
    async fn hello_switches_protocol_and_names_the_client() {
        let mut h = Harness::with_env(&[("ROOST_RESP_PASSWORD", "pw")]);
        assert!(h
            .send(&["HELLO", "3", "SETNAME", "w1"])
            .await
            .starts_with("-NOAUTH HELLO must be called"));
        let reply = h
            .send(&["HELLO", "3", "AUTH", "default", "pw", "SETNAME", "w1"])
            .await;
        assert!(
            reply.starts_with("%7\r\n$6\r\nserver\r\n$5\r\nroost\r\n"),
            "{reply}"
        );
        assert_eq!(h.session.protocol, Protocol::Resp3);
        assert_eq!(h.send(&["CLIENT", "GETNAME"]).await, "$2\r\nw1\r\n");
        assert_eq!(
            h.send(&["CLIENT", "GETNAME", "x"]).await,
            "-ERR wrong number of arguments for 'client|getname' command\r\n"
        );
        assert_eq!(h.send(&["ACL", "WHOAMI"]).await, "$7\r\ndefault\r\n");
    }

    #[tokio::test]
    async fn typed_client_commands() {
        let mut h = Harness::new();
        let set = Command::Client(ClientCommand::SetName("worker-7"));
        assert_eq!(h.apply(set).await, "+OK\r\n");
        let get = Command::Client(ClientCommand::GetName);
        assert_eq!(h.apply(get).await, "$8\r\nworker-7\r\n");
        let id = h.session.client.id;
        let reply = h.apply(Command::Client(ClientCommand::Id)).await;
        assert_eq!(reply, format!(":{id}\r\n"));
        assert_eq!(
            h.send(&["CLIENT", "SETNAME", "a b"]).await,
            "-ERR Client names cannot contain spaces, newlines or special characters.\r\n"
        );
    }
}
