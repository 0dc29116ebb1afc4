//! libvirt's domain lifecycle events (started, suspended, stopped, …), so
//! instance states follow what the hosts do as it happens — a guest that
//! powers itself off is `stopped` at once, not at the next sync.
//!
//! The `virt` crate wraps the event loop's handles but not domain event
//! registration, so that one call goes through its raw bindings (`virt::sys`).

use std::ffi::CStr;
use std::os::raw::{c_int, c_void};
use std::sync::Once;
use std::time::Duration;

use cloud::{Error, Result};
use tokio::sync::mpsc::UnboundedSender;
use virt::connect::Connect;
use virt::sys;

static EVENT_LOOP: Once = Once::new();

/// Registers libvirt's default event loop and runs it on a thread of its
/// own. Connections opened afterwards deliver events.
pub(crate) fn start_event_loop() {
    EVENT_LOOP.call_once(|| {
        // SAFETY: no preconditions; `Once` makes it happen once per process.
        if unsafe { sys::virEventRegisterDefaultImpl() } != 0 {
            tracing::warn!("libvirt's event loop could not be registered: instance states follow hosts by polling only");
            return;
        }
        let spawned = std::thread::Builder::new()
            .name("libvirt-events".into())
            .spawn(|| loop {
                // SAFETY: the default implementation was registered above.
                if unsafe { sys::virEventRunDefaultImpl() } != 0 {
                    std::thread::sleep(Duration::from_secs(1));
                }
            });
        if let Err(error) = spawned {
            tracing::warn!(%error, "libvirt's event loop thread did not start");
        }
    });
}

/// The lifecycle callback: sends the domain's name.
unsafe extern "C" fn on_lifecycle(
    _conn: sys::virConnectPtr,
    domain: sys::virDomainPtr,
    _event: c_int,
    _detail: c_int,
    opaque: *mut c_void,
) -> c_int {
    // SAFETY: `opaque` is the boxed sender `subscribe` registered, alive until
    // libvirt calls `free_sender`; the domain is valid during the callback.
    let sender = &*(opaque as *const UnboundedSender<String>);
    let name = sys::virDomainGetName(domain);
    if !name.is_null() {
        let _ = sender.send(CStr::from_ptr(name).to_string_lossy().into_owned());
    }
    0
}

/// Frees the sender when libvirt drops the registration (its connection closed).
unsafe extern "C" fn free_sender(opaque: *mut c_void) {
    // SAFETY: made by `Box::into_raw` in `subscribe`, freed once by libvirt.
    drop(Box::from_raw(opaque as *mut UnboundedSender<String>));
}

type LifecycleCallback =
    unsafe extern "C" fn(sys::virConnectPtr, sys::virDomainPtr, c_int, c_int, *mut c_void) -> c_int;
type GenericCallback = unsafe extern "C" fn(sys::virConnectPtr, sys::virDomainPtr, *mut c_void);

/// Has `conn` report every lifecycle change of its domains, by name, to `sender`.
pub(crate) fn subscribe(conn: &Connect, sender: &UnboundedSender<String>) -> Result<()> {
    let opaque = Box::into_raw(Box::new(sender.clone())) as *mut c_void;
    // SAFETY: libvirt's C API takes every event callback as the generic type
    // and calls it with the signature of the event registered
    // (VIR_DOMAIN_EVENT_CALLBACK); for LIFECYCLE that is `LifecycleCallback`.
    let callback =
        unsafe { std::mem::transmute::<LifecycleCallback, GenericCallback>(on_lifecycle) };
    // SAFETY: a live connection, no domain filter, and an opaque pointer
    // libvirt hands back to the callbacks and frees with `free_sender`.
    let id = unsafe {
        sys::virConnectDomainEventRegisterAny(
            conn.as_ptr(),
            std::ptr::null_mut(),
            sys::VIR_DOMAIN_EVENT_ID_LIFECYCLE as c_int,
            Some(callback),
            opaque,
            Some(free_sender),
        )
    };
    if id < 0 {
        // SAFETY: libvirt did not take ownership on failure.
        unsafe { free_sender(opaque) };
        return Err(Error::Unavailable(format!(
            "libvirt refused lifecycle events: {}",
            virt::error::Error::last_error()
        )));
    }
    Ok(())
}
