//! The nginx glue, and the only module with `unsafe`: the module table, the
//! directives, the access-phase handler and the `$keyhole_*` variables. Every
//! `extern "C"` entry point nginx calls runs its body under `catch_unwind`: a panic
//! never crosses into nginx; in a request it becomes a denial (403), in the
//! configuration an error.
//!
//! Memory: the per-location settings live in the configuration pool (dropped with
//! the cycle, so a reload frees the old keys); the per-request context is plain data
//! in the request pool; the variables point at static strings or request-pool bytes.

use std::ffi::{c_char, c_void};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::PathBuf;
use std::ptr::{addr_of, null_mut};

use keyhole_core::clock::{Clock, SystemClock};
use ngx::core::{NGX_CONF_ERROR, NGX_CONF_OK, Pool};
use ngx::ffi::{
    NGX_CONF_TAKE1, NGX_DECLINED, NGX_ERROR, NGX_HTTP_FORBIDDEN, NGX_HTTP_LOC_CONF,
    NGX_HTTP_LOC_CONF_OFFSET, NGX_HTTP_MAIN_CONF, NGX_HTTP_MODULE, NGX_HTTP_SRV_CONF,
    NGX_HTTP_VAR_CHANGEABLE, NGX_LOG_EMERG, NGX_OK, ngx_array_push, ngx_command_t, ngx_conf_t,
    ngx_http_add_variable, ngx_http_core_main_conf_t, ngx_http_get_indexed_variable,
    ngx_http_get_variable_index, ngx_http_handler_pt, ngx_http_module_t, ngx_http_phases,
    ngx_http_phases_NGX_HTTP_ACCESS_PHASE, ngx_http_phases_NGX_HTTP_PRECONTENT_PHASE,
    ngx_http_request_t, ngx_int_t, ngx_module_t, ngx_pcalloc, ngx_pnalloc, ngx_str_t, ngx_uint_t,
    ngx_variable_value_t,
};
use ngx::http::{HttpModule, HttpModuleLocationConf, HttpModuleMainConf, NgxHttpCoreModule};
use ngx::{ngx_conf_log_error, ngx_string};

use crate::handler::{self, Action, Inputs};
use crate::keyfile;
use crate::settings::{self, Directives, SettingsError};

struct Module;

/// The variables the handler reads, by index (resolved once per configuration).
#[derive(Debug, Default)]
struct MainConf {
    /// `request_uri`, `request_method`, `remote_addr`, `http_cookie`,
    /// `http_sec_fetch_site`, `http_referer`, `host`.
    inputs: [ngx_int_t; 7],
}

const INPUT_NAMES: [&str; 7] = [
    "request_uri",
    "request_method",
    "remote_addr",
    "http_cookie",
    "http_sec_fetch_site",
    "http_referer",
    "host",
];

/// What the access handler decided, for the variables: plain data in the request pool.
#[repr(C)]
struct Ctx {
    outcome: &'static str,
    reason: &'static str,
    credential: &'static str,
    kid: ngx_str_t,
    /// A handover whose auth subrequest read `$keyhole_outcome` (the auth location of
    /// keyhole-module.conf): the sidecar was asked.
    consulted: bool,
}

impl HttpModule for Module {
    fn module() -> &'static ngx_module_t {
        // SAFETY: the module static is only written by nginx while it loads the
        // configuration, in one thread, before any request.
        unsafe { &*addr_of!(ngx_http_keyhole_module) }
    }

    unsafe extern "C" fn preconfiguration(cf: *mut ngx_conf_t) -> ngx_int_t {
        catch_unwind(AssertUnwindSafe(|| add_variables(cf))).unwrap_or(NGX_ERROR as ngx_int_t)
    }

    unsafe extern "C" fn postconfiguration(cf: *mut ngx_conf_t) -> ngx_int_t {
        catch_unwind(AssertUnwindSafe(|| postconfigure(cf))).unwrap_or(NGX_ERROR as ngx_int_t)
    }
}

// SAFETY: the main configuration of this module is created by `Module::create_main_conf`
// as a `MainConf`.
unsafe impl HttpModuleMainConf for Module {
    type MainConf = MainConf;
}

// SAFETY: the location configuration of this module is created by
// `Module::create_loc_conf` as `Directives`.
unsafe impl HttpModuleLocationConf for Module {
    type LocationConf = Directives;
}

fn add_variables(cf: *mut ngx_conf_t) -> ngx_int_t {
    let names = [
        ngx_string!("keyhole_outcome"),
        ngx_string!("keyhole_reason"),
        ngx_string!("keyhole_credential"),
        ngx_string!("keyhole_kid"),
    ];
    for (data, mut name) in names.into_iter().enumerate() {
        // SAFETY: nginx passes a valid configuration during preconfiguration; the name
        // is a static string; the returned variable belongs to the cycle.
        let var =
            unsafe { ngx_http_add_variable(cf, &mut name, NGX_HTTP_VAR_CHANGEABLE as ngx_uint_t) };
        if var.is_null() {
            return NGX_ERROR as ngx_int_t;
        }
        // SAFETY: `var` is non-null and points at the variable nginx just registered.
        unsafe {
            (*var).get_handler = Some(variable);
            (*var).data = data;
        }
    }
    NGX_OK as ngx_int_t
}

fn postconfigure(cf: *mut ngx_conf_t) -> ngx_int_t {
    // SAFETY: nginx passes a valid configuration during postconfiguration.
    let cf_ref = unsafe { &mut *cf };
    let Some(main) = Module::main_conf_mut(cf_ref) else {
        return NGX_ERROR as ngx_int_t;
    };
    for (slot, name) in main.inputs.iter_mut().zip(INPUT_NAMES) {
        let mut name = ngx_str_t {
            len: name.len(),
            data: name.as_ptr().cast_mut(),
        };
        // SAFETY: valid configuration; nginx copies the name it keeps.
        let index = unsafe { ngx_http_get_variable_index(cf, &mut name) };
        if index == NGX_ERROR as ngx_int_t {
            return NGX_ERROR as ngx_int_t;
        }
        *slot = index;
    }
    let Some(cmcf) = NgxHttpCoreModule::main_conf_mut(cf_ref) else {
        return NGX_ERROR as ngx_int_t;
    };
    let added = push_handler(cmcf, ngx_http_phases_NGX_HTTP_ACCESS_PHASE, access_handler)
        && push_handler(
            cmcf,
            ngx_http_phases_NGX_HTTP_PRECONTENT_PHASE,
            handover_guard,
        );
    if added {
        NGX_OK as ngx_int_t
    } else {
        NGX_ERROR as ngx_int_t
    }
}

/// Appends `handler` to one phase's handler array; false when nginx has no such phase
/// or no memory for it.
fn push_handler(
    cmcf: &mut ngx_http_core_main_conf_t,
    phase: ngx_http_phases,
    handler: unsafe extern "C" fn(*mut ngx_http_request_t) -> ngx_int_t,
) -> bool {
    let Some(phase) = cmcf.phases.get_mut(phase as usize) else {
        return false;
    };
    // SAFETY: a phase's handler array is an nginx array of handler pointers, set up by
    // the core module before postconfiguration runs.
    let slot = unsafe { ngx_array_push(&mut phase.handlers) }.cast::<ngx_http_handler_pt>();
    if slot.is_null() {
        return false;
    }
    // SAFETY: `slot` is a fresh, non-null element of that array.
    unsafe { *slot = Some(handler) };
    true
}

/// The precontent-phase guard: a request the module handed over must have been
/// decided by the sidecar (its auth subrequest read `$keyhole_outcome`). A location
/// with `keyhole_sidecar on;` but no `auth_request` (or the shipped keyhole.conf
/// instead of keyhole-module.conf) would otherwise serve it undecided: it is denied
/// `needs-sidecar` instead. A panic denies.
unsafe extern "C" fn handover_guard(r: *mut ngx_http_request_t) -> ngx_int_t {
    catch_unwind(AssertUnwindSafe(|| guard(r))).unwrap_or(NGX_HTTP_FORBIDDEN as ngx_int_t)
}

fn guard(r: *mut ngx_http_request_t) -> ngx_int_t {
    let module = Module::module();
    // SAFETY: valid request from nginx; our ctx slot holds our `Ctx` or null (set by
    // the access handler of this request); our loc_conf slot holds `Directives`.
    unsafe {
        if (*r).main != r {
            return NGX_DECLINED as ngx_int_t;
        }
        let ctx = (*(*r).ctx.add(module.ctx_index)).cast::<Ctx>();
        if ctx.is_null() || (*ctx).outcome != "sidecar" || (*ctx).consulted {
            return NGX_DECLINED as ngx_int_t;
        }
        let directives = &*(*(*r).loc_conf.add(module.ctx_index)).cast::<Directives>();
        (*ctx).outcome = "deny";
        (*ctx).reason = keyhole_core::decision::Deny::NeedsSidecar.code();
        let status = directives.resolved.as_ref().map_or(403, |s| s.deny_status);
        ngx_int_t::from(i16::try_from(status).unwrap_or(403))
    }
}

/// The access-phase handler: decide, remember the verdict for the variables, and
/// deny, continue (allow) or decline (the sidecar decides). A panic denies.
unsafe extern "C" fn access_handler(r: *mut ngx_http_request_t) -> ngx_int_t {
    catch_unwind(AssertUnwindSafe(|| access(r))).unwrap_or(NGX_HTTP_FORBIDDEN as ngx_int_t)
}

fn access(r: *mut ngx_http_request_t) -> ngx_int_t {
    let module = Module::module();
    // SAFETY: nginx calls the handler with a valid request whose loc_conf, main_conf and
    // ctx arrays hold one slot per HTTP module, ours at `ctx_index`; our slots hold a
    // `Directives` and a `MainConf` (create_loc_conf, create_main_conf).
    let (directives, main) = unsafe {
        if (*r).main != r {
            return NGX_DECLINED as ngx_int_t;
        }
        let directives = &*(*(*r).loc_conf.add(module.ctx_index)).cast::<Directives>();
        let main = &*(*(*r).main_conf.add(module.ctx_index)).cast::<MainConf>();
        (directives, main)
    };
    let Some(settings) = directives.resolved.as_deref() else {
        return NGX_DECLINED as ngx_int_t;
    };
    let values = main.inputs.map(|index| variable_bytes(r, index));
    let [uri, method, client, cookie, fetch_site, referer, host] = values;
    let inputs = Inputs {
        uri,
        method,
        client,
        cookie,
        fetch_site,
        referer,
        host,
    };
    let verdict = handler::decide(settings, &inputs, SystemClock.now());
    // SAFETY: the request pool outlives the request and its variables.
    let ctx = unsafe { ngx_pcalloc((*r).pool, std::mem::size_of::<Ctx>()) }.cast::<Ctx>();
    if ctx.is_null() {
        return ngx_int_t::from(i16::try_from(settings.deny_status).unwrap_or(403));
    }
    let kid = verdict.kid.map_or(
        ngx_str_t {
            len: 0,
            data: null_mut(),
        },
        |kid| pool_copy(r, kid.as_bytes()),
    );
    // SAFETY: `ctx` is non-null, sized and aligned for `Ctx` (pool allocations are
    // aligned); writing plain data, then storing it in our ctx slot of the request.
    unsafe {
        ctx.write(Ctx {
            outcome: verdict.outcome(),
            reason: verdict.reason,
            credential: verdict.credential,
            kid,
            consulted: false,
        });
        *(*r).ctx.add(module.ctx_index) = ctx.cast::<c_void>();
    }
    match verdict.action {
        Action::Allow => NGX_OK as ngx_int_t,
        Action::Handover => NGX_DECLINED as ngx_int_t,
        Action::Deny(status) => ngx_int_t::from(i16::try_from(status).unwrap_or(403)),
    }
}

/// A variable's bytes for this request (empty when not found). They live in the
/// request (pool or buffers) for the rest of the handler call.
fn variable_bytes<'r>(r: *mut ngx_http_request_t, index: ngx_int_t) -> &'r [u8] {
    let Ok(index) = ngx_uint_t::try_from(index) else {
        return &[];
    };
    // SAFETY: valid request; `index` came from ngx_http_get_variable_index for this
    // configuration; the returned value (if any) points at `len` readable bytes.
    unsafe {
        let value = ngx_http_get_indexed_variable(r, index);
        if value.is_null() || (*value).not_found() != 0 || (*value).data.is_null() {
            return &[];
        }
        std::slice::from_raw_parts((*value).data, (*value).len() as usize)
    }
}

/// `bytes` copied into the request pool (empty on allocation failure).
fn pool_copy(r: *mut ngx_http_request_t, bytes: &[u8]) -> ngx_str_t {
    // SAFETY: valid request pool; the copy is `bytes.len()` bytes long.
    unsafe {
        let data = ngx_pnalloc((*r).pool, bytes.len()).cast::<u8>();
        if data.is_null() {
            return ngx_str_t {
                len: 0,
                data: null_mut(),
            };
        }
        std::ptr::copy_nonoverlapping(bytes.as_ptr(), data, bytes.len());
        ngx_str_t {
            len: bytes.len(),
            data,
        }
    }
}

/// `$keyhole_outcome` (data 0), `$keyhole_reason` (1), `$keyhole_credential` (2),
/// `$keyhole_kid` (3): read from the main request's context, so an `auth_request`
/// subrequest sees what the module decided for its parent. Not found before the
/// module ran, or where it is off.
unsafe extern "C" fn variable(
    r: *mut ngx_http_request_t,
    v: *mut ngx_variable_value_t,
    data: usize,
) -> ngx_int_t {
    catch_unwind(AssertUnwindSafe(|| read_variable(r, v, data))).unwrap_or(NGX_ERROR as ngx_int_t)
}

fn read_variable(
    r: *mut ngx_http_request_t,
    v: *mut ngx_variable_value_t,
    data: usize,
) -> ngx_int_t {
    let module = Module::module();
    // SAFETY: valid request and value from nginx; the main request's ctx slot holds
    // our `Ctx` or null; its strings are static or in the main request's pool, which
    // outlives every subrequest.
    unsafe {
        let ctx = (*(*(*r).main).ctx.add(module.ctx_index)).cast::<Ctx>();
        if !ctx.is_null() && data == 0 && (*r).main != r {
            // The auth subrequest asks: the sidecar decides this request.
            (*ctx).consulted = true;
        }
        let bytes: &[u8] = if ctx.is_null() {
            &[]
        } else {
            match data {
                0 => (*ctx).outcome.as_bytes(),
                1 => (*ctx).reason.as_bytes(),
                2 => (*ctx).credential.as_bytes(),
                _ if (*ctx).kid.data.is_null() => &[],
                _ => std::slice::from_raw_parts((*ctx).kid.data, (*ctx).kid.len),
            }
        };
        if bytes.is_empty() {
            (*v).set_not_found(1);
            return NGX_OK as ngx_int_t;
        }
        (*v).set_len(bytes.len() as u32);
        (*v).set_valid(1);
        (*v).set_no_cacheable(0);
        (*v).set_not_found(0);
        (*v).data = bytes.as_ptr().cast_mut();
    }
    NGX_OK as ngx_int_t
}

/// The one argument of a directive, as text.
fn argument<'c>(cf: *mut ngx_conf_t) -> Option<&'c str> {
    // SAFETY: nginx calls directive handlers with a valid configuration whose `args`
    // array holds the directive name and its arguments (TAKE1: exactly one).
    unsafe {
        let args = (*cf).args;
        if args.is_null() || (*args).nelts < 2 {
            return None;
        }
        let arg = &*(*args).elts.cast::<ngx_str_t>().add(1);
        std::str::from_utf8(std::slice::from_raw_parts(arg.data, arg.len)).ok()
    }
}

/// Runs a directive's setter on our `Directives`, logging its error in nginx's
/// configuration error format (nginx adds the configuration file and line).
fn set(
    cf: *mut ngx_conf_t,
    conf: *mut c_void,
    apply: impl FnOnce(&mut Directives, &str, *mut ngx_conf_t) -> Result<(), String>,
) -> *mut c_char {
    let result = catch_unwind(AssertUnwindSafe(|| {
        let Some(text) = argument(cf) else {
            return Err("the argument is not UTF-8 text".to_owned());
        };
        // SAFETY: `conf` is this module's location configuration (NGX_HTTP_LOC_CONF_OFFSET),
        // a `Directives` made by create_loc_conf.
        let directives = unsafe { &mut *conf.cast::<Directives>() };
        apply(directives, text, cf)
    }))
    .unwrap_or_else(|_| Err("internal error while reading the directive".to_owned()));
    match result {
        Ok(()) => NGX_CONF_OK,
        Err(message) => {
            ngx_conf_log_error!(NGX_LOG_EMERG, cf, "{}", message);
            NGX_CONF_ERROR
        }
    }
}

fn text(error: SettingsError) -> String {
    error.to_string()
}

extern "C" fn set_enable(
    cf: *mut ngx_conf_t,
    _: *mut ngx_command_t,
    conf: *mut c_void,
) -> *mut c_char {
    set(cf, conf, |d, arg, _| {
        d.enable = Some(settings::parse_flag(arg).map_err(text)?);
        Ok(())
    })
}

extern "C" fn set_sidecar(
    cf: *mut ngx_conf_t,
    _: *mut ngx_command_t,
    conf: *mut c_void,
) -> *mut c_char {
    set(cf, conf, |d, arg, _| {
        d.sidecar = Some(settings::parse_flag(arg).map_err(text)?);
        Ok(())
    })
}

extern "C" fn set_jwt_param(
    cf: *mut ngx_conf_t,
    _: *mut ngx_command_t,
    conf: *mut c_void,
) -> *mut c_char {
    set(cf, conf, |d, arg, _| {
        d.jwt_param = Some(settings::parse_jwt_param(arg).map_err(text)?);
        Ok(())
    })
}

extern "C" fn set_leeway(
    cf: *mut ngx_conf_t,
    _: *mut ngx_command_t,
    conf: *mut c_void,
) -> *mut c_char {
    set(cf, conf, |d, arg, _| {
        d.leeway = Some(settings::parse_leeway(arg).map_err(text)?);
        Ok(())
    })
}

extern "C" fn set_max_lifetime(
    cf: *mut ngx_conf_t,
    _: *mut ngx_command_t,
    conf: *mut c_void,
) -> *mut c_char {
    set(cf, conf, |d, arg, _| {
        d.max_lifetime = Some(settings::parse_seconds(arg).map_err(text)?);
        Ok(())
    })
}

extern "C" fn set_deny_status(
    cf: *mut ngx_conf_t,
    _: *mut ngx_command_t,
    conf: *mut c_void,
) -> *mut c_char {
    set(cf, conf, |d, arg, _| {
        d.deny_status = Some(settings::parse_status(arg).map_err(text)?);
        Ok(())
    })
}

extern "C" fn set_jwt_audience(
    cf: *mut ngx_conf_t,
    _: *mut ngx_command_t,
    conf: *mut c_void,
) -> *mut c_char {
    set(cf, conf, |d, arg, _| {
        d.jwt_audience = Some(settings::parse_audience(arg).map_err(text)?);
        Ok(())
    })
}

extern "C" fn set_jwt_issuers(
    cf: *mut ngx_conf_t,
    _: *mut ngx_command_t,
    conf: *mut c_void,
) -> *mut c_char {
    set(cf, conf, |d, arg, _| {
        d.jwt_issuers = Some(settings::parse_issuers(arg).map_err(text)?);
        Ok(())
    })
}

extern "C" fn set_jwt_max_lifetime(
    cf: *mut ngx_conf_t,
    _: *mut ngx_command_t,
    conf: *mut c_void,
) -> *mut c_char {
    set(cf, conf, |d, arg, _| {
        d.jwt_max_lifetime = Some(settings::parse_jwt_max_lifetime(arg).map_err(text)?);
        Ok(())
    })
}

extern "C" fn set_cookie_max_lifetime(
    cf: *mut ngx_conf_t,
    _: *mut ngx_command_t,
    conf: *mut c_void,
) -> *mut c_char {
    set(cf, conf, |d, arg, _| {
        d.cookie_max_lifetime = Some(settings::parse_cookie_max_lifetime(arg).map_err(text)?);
        Ok(())
    })
}

extern "C" fn set_jwt_single_use(
    cf: *mut ngx_conf_t,
    _: *mut ngx_command_t,
    conf: *mut c_void,
) -> *mut c_char {
    set(cf, conf, |d, arg, _| {
        d.jwt_single_use = Some(settings::parse_single_use(arg).map_err(text)?);
        Ok(())
    })
}

/// A directive's path, relative to nginx.conf's directory when not absolute.
fn config_path(arg: &str, cf: *mut ngx_conf_t) -> PathBuf {
    let path = PathBuf::from(arg);
    if path.is_absolute() {
        return path;
    }
    // SAFETY: valid configuration; `conf_prefix` is the directory of nginx.conf.
    let prefix = unsafe {
        let prefix = (*(*cf).cycle).conf_prefix;
        std::slice::from_raw_parts(prefix.data, prefix.len)
    };
    PathBuf::from(String::from_utf8_lossy(prefix).into_owned()).join(path)
}

extern "C" fn set_jwt_keys_file(
    cf: *mut ngx_conf_t,
    _: *mut ngx_command_t,
    conf: *mut c_void,
) -> *mut c_char {
    set(cf, conf, |d, arg, cf| {
        let path = config_path(arg, cf);
        d.jwt_keys = Some(keyfile::load_jwt(&path).map_err(|error| error.to_string())?);
        Ok(())
    })
}

extern "C" fn set_keys_file(
    cf: *mut ngx_conf_t,
    _: *mut ngx_command_t,
    conf: *mut c_void,
) -> *mut c_char {
    set(cf, conf, |d, arg, cf| {
        let path = config_path(arg, cf);
        d.keys = Some(keyfile::load(&path).map_err(|error| error.to_string())?);
        Ok(())
    })
}

unsafe extern "C" fn create_loc_conf(cf: *mut ngx_conf_t) -> *mut c_void {
    catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: valid configuration from nginx; the pool drops the value with the cycle.
        let pool = unsafe { Pool::from_ngx_pool((*cf).pool) };
        pool.allocate::<Directives>(Directives::default())
            .cast::<c_void>()
    }))
    .unwrap_or(null_mut())
}

unsafe extern "C" fn merge_loc_conf(
    cf: *mut ngx_conf_t,
    prev: *mut c_void,
    conf: *mut c_void,
) -> *mut c_char {
    let result = catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: both are this module's location configurations (`Directives`), and
        // distinct objects (enclosing level, this level).
        let (prev, conf) =
            unsafe { (&*prev.cast::<Directives>(), &mut *conf.cast::<Directives>()) };
        conf.merge(prev).map_err(text)
    }))
    .unwrap_or_else(|_| Err("internal error while merging keyhole settings".to_owned()));
    match result {
        Ok(()) => NGX_CONF_OK,
        Err(message) => {
            ngx_conf_log_error!(NGX_LOG_EMERG, cf, "{}", message);
            NGX_CONF_ERROR
        }
    }
}

const ANY_LEVEL: u32 = NGX_HTTP_MAIN_CONF | NGX_HTTP_SRV_CONF | NGX_HTTP_LOC_CONF | NGX_CONF_TAKE1;

const fn command(
    name: ngx_str_t,
    levels: u32,
    set: unsafe extern "C" fn(*mut ngx_conf_t, *mut ngx_command_t, *mut c_void) -> *mut c_char,
) -> ngx_command_t {
    ngx_command_t {
        name,
        type_: levels as ngx_uint_t,
        set: Some(set),
        conf: NGX_HTTP_LOC_CONF_OFFSET,
        offset: 0,
        post: null_mut(),
    }
}

static mut COMMANDS: [ngx_command_t; 14] = [
    command(
        ngx_string!("keyhole"),
        NGX_HTTP_LOC_CONF | NGX_CONF_TAKE1,
        set_enable,
    ),
    command(ngx_string!("keyhole_keys_file"), ANY_LEVEL, set_keys_file),
    command(ngx_string!("keyhole_leeway"), ANY_LEVEL, set_leeway),
    command(
        ngx_string!("keyhole_max_lifetime"),
        ANY_LEVEL,
        set_max_lifetime,
    ),
    command(
        ngx_string!("keyhole_deny_status"),
        ANY_LEVEL,
        set_deny_status,
    ),
    command(ngx_string!("keyhole_sidecar"), ANY_LEVEL, set_sidecar),
    command(ngx_string!("keyhole_jwt_param"), ANY_LEVEL, set_jwt_param),
    command(
        ngx_string!("keyhole_jwt_keys_file"),
        ANY_LEVEL,
        set_jwt_keys_file,
    ),
    command(
        ngx_string!("keyhole_jwt_audience"),
        ANY_LEVEL,
        set_jwt_audience,
    ),
    command(
        ngx_string!("keyhole_jwt_issuers"),
        ANY_LEVEL,
        set_jwt_issuers,
    ),
    command(
        ngx_string!("keyhole_jwt_max_lifetime"),
        ANY_LEVEL,
        set_jwt_max_lifetime,
    ),
    command(
        ngx_string!("keyhole_cookie_max_lifetime"),
        ANY_LEVEL,
        set_cookie_max_lifetime,
    ),
    command(
        ngx_string!("keyhole_jwt_single_use"),
        ANY_LEVEL,
        set_jwt_single_use,
    ),
    ngx_command_t::empty(),
];

static MODULE_CTX: ngx_http_module_t = ngx_http_module_t {
    preconfiguration: Some(Module::preconfiguration),
    postconfiguration: Some(Module::postconfiguration),
    create_main_conf: Some(Module::create_main_conf),
    init_main_conf: None,
    create_srv_conf: None,
    merge_srv_conf: None,
    create_loc_conf: Some(create_loc_conf),
    merge_loc_conf: Some(merge_loc_conf),
};

ngx::ngx_modules!(ngx_http_keyhole_module);

/// The module nginx loads (`load_module modules/ngx_http_keyhole_module.so;`).
#[used]
#[allow(non_upper_case_globals)]
pub static mut ngx_http_keyhole_module: ngx_module_t = ngx_module_t {
    ctx: addr_of!(MODULE_CTX) as _,
    // A pointer to the first command of a static array, never moved.
    commands: &raw mut COMMANDS as *mut ngx_command_t,
    type_: NGX_HTTP_MODULE as _,
    ..ngx_module_t::default()
};
