//! Connection commands: PING ECHO QUIT HELLO AUTH SELECT CLIENT ACL. They
//! change only the session (protocol, identity, name), never the cache.
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

pub fn ping(cx: &mut Cx<'_>, args: &[Bytes]) -> Result<(), RespError> {
    match args {
        [_] => write_simple(cx.out, b"PONG"),
        [_, message] => write_bulk(cx.out, message),
        _ => return Err(RespError::WrongArity("ping")),
    }
    Ok(())
}

pub fn echo(cx: &mut Cx<'_>, args: &[Bytes]) -> Result<(), RespError> {
    write_bulk(cx.out, &args[1]);
    Ok(())
}

pub fn quit(cx: &mut Cx<'_>) -> Result<(), RespError> {
    cx.ok();
    cx.session.closing = true;
    Ok(())
}

pub fn auth(cx: &mut Cx<'_>, args: &[Bytes]) -> Result<(), RespError> {
    match &args[1..] {
        [password] => authenticate(cx, None, password)?,
        [user, password] => authenticate(cx, Some(user), password)?,
        _ => return Err(RespError::Syntax),
    }
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

/// ACL WHOAMI | HELP: the user the connection is authenticated as.
pub fn acl(cx: &mut Cx<'_>, args: &[Bytes]) -> Result<(), RespError> {
    let sub = &args[1];
    if is(sub, "WHOAMI") && args.len() == 2 {
        let user = cx
            .session
            .identity
            .as_ref()
            .map_or_else(|| "default".into(), |i| i.user.clone());
        write_bulk(cx.out, user.as_bytes());
    } else if is(sub, "WHOAMI") {
        return Err(RespError::WrongArity("acl|whoami"));
    } else if is(sub, "HELP") {
        let lines: &[&[u8]] = &[
            b"ACL <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
            b"WHOAMI, HELP (users and roles are configured: ROOST_API_TOKENS, ROOST_API_TOKENS_FILE)",
        ];
        write_array_header(cx.out, lines.len());
        for line in lines {
            write_simple(cx.out, line);
        }
    } else {
        return Err(RespError::unknown_subcommand("ACL", sub));
    }
    Ok(())
}

/// HELLO [protover [AUTH user password] [SETNAME name]]
pub fn hello(cx: &mut Cx<'_>, args: &[Bytes]) -> Result<(), RespError> {
    let protocol = match args.get(1) {
        None => cx.session.protocol,
        Some(version) => match integer(version).map_err(|_| RespError::ProtocolNotAnInteger)? {
            2 => Protocol::Resp2,
            3 => Protocol::Resp3,
            _ => return Err(RespError::UnsupportedProtocol),
        },
    };
    let mut name = None;
    let mut i = 2;
    while i < args.len() {
        let option = &args[i];
        if is(option, "AUTH") && i + 2 < args.len() {
            authenticate(cx, Some(&args[i + 1]), &args[i + 2])?;
            i += 3;
        } else if is(option, "SETNAME") && i + 1 < args.len() {
            name = Some(client_name(&args[i + 1])?);
            i += 2;
        } else {
            let option = String::from_utf8_lossy(option).into_owned();
            return Err(RespError::HelloSyntax(option));
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

pub fn select(cx: &mut Cx<'_>, args: &[Bytes]) -> Result<(), RespError> {
    match integer(&args[1])? {
        0 => {
            cx.ok();
            Ok(())
        }
        _ => Err(RespError::DbIndexOutOfRange),
    }
}

/// CLIENT SETNAME | GETNAME | ID | INFO | LIST | SETINFO | HELP
pub fn client(cx: &mut Cx<'_>, args: &[Bytes]) -> Result<(), RespError> {
    let sub = &args[1];
    let argc = args.len();
    let arity = |ok: bool, name: &'static str| ok.then_some(()).ok_or(RespError::WrongArity(name));
    if is(sub, "SETNAME") {
        arity(argc == 3, "client|setname")?;
        let name = client_name(&args[2])?;
        cx.session.client.set_name(name);
        cx.ok();
    } else if is(sub, "GETNAME") {
        arity(argc == 2, "client|getname")?;
        match cx.session.client.name() {
            name if name.is_empty() => cx.null(),
            name => write_bulk(cx.out, name.as_bytes()),
        }
    } else if is(sub, "ID") {
        arity(argc == 2, "client|id")?;
        write_integer(cx.out, cx.session.client.id as i64);
    } else if is(sub, "INFO") {
        arity(argc == 2, "client|info")?;
        let line = cx.session.client.describe() + "\n";
        write_verbatim(cx.out, *b"txt", line.as_bytes(), cx.session.protocol);
    } else if is(sub, "LIST") {
        let text = cx.state.clients.describe_all();
        write_verbatim(cx.out, *b"txt", text.as_bytes(), cx.session.protocol);
    } else if is(sub, "SETINFO") {
        // Client libraries announce themselves; accepted and not kept.
        arity(argc == 4, "client|setinfo")?;
        cx.ok();
    } else if is(sub, "HELP") {
        let lines: &[&[u8]] = &[
            b"CLIENT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
            b"GETNAME, SETNAME <name>, ID, INFO, LIST, SETINFO <attr> <value>, HELP",
        ];
        write_array_header(cx.out, lines.len());
        for line in lines {
            write_simple(cx.out, line);
        }
    } else {
        return Err(RespError::unknown_subcommand("CLIENT", sub));
    }
    Ok(())
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
