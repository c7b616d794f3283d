//! Contexts that call each other through the node. `ping` asks another context (of this app)
//! to run `pong`, which checks that the node-set origin is the context that says it called;
//! `ping_secret` tries `secret`, which is not an xcall entry point; `relay` calls itself
//! through the node until the node's depth limit stops the chain.

use calimero_sdk::{ContextId, app, env};
use calimero_storage::collections::Counter;

#[app::state]
pub struct Relay {
    pongs: Counter,
    secrets: Counter,
    hops: Counter,
}

#[app::logic]
impl Relay {
    #[app::init]
    pub fn init() -> Relay {
        Relay {
            pongs: Counter::new(),
            secrets: Counter::new(),
            hops: Counter::new(),
        }
    }

    /// Asks `target` to run `pong`, naming this context as the caller.
    pub fn ping(&mut self, target: ContextId) -> app::Result<()> {
        let me = ContextId::from(env::context_id());
        let params = calimero_sdk::serde_json::to_vec(&calimero_sdk::serde_json::json!({
            "from": me.to_string(),
        }))?;
        env::xcall(target.as_ref(), "pong", &params);
        Ok(())
    }

    /// Asks `target` to run `secret`, which is not an xcall entry point.
    pub fn ping_secret(&mut self, target: ContextId) -> app::Result<()> {
        env::xcall(target.as_ref(), "secret", b"{}");
        Ok(())
    }

    /// Runs only through an xcall from a context of this app; `from` must be the caller.
    #[app::xcall(from_same_app)]
    pub fn pong(&mut self, from: ContextId) -> app::Result<u64> {
        let Some(origin) = env::xcall_origin().map(ContextId::from) else {
            app::bail!("pong is only for xcalls");
        };
        if origin != from {
            app::bail!("the caller is {origin}, not {from}");
        }
        self.pongs.increment()?;
        Ok(self.pongs.value()?)
    }

    /// An ordinary method: clients may call it, xcalls may not.
    pub fn secret(&mut self) -> app::Result<u64> {
        self.secrets.increment()?;
        Ok(self.secrets.value()?)
    }

    /// One hop, then the same call again through the node.
    #[app::xcall]
    pub fn relay(&mut self) -> app::Result<()> {
        self.hops.increment()?;
        env::xcall(&env::context_id(), "relay", b"{}");
        Ok(())
    }

    /// `(pongs, secrets, hops)`.
    pub fn counts(&self) -> app::Result<(u64, u64, u64)> {
        Ok((
            self.pongs.value()?,
            self.secrets.value()?,
            self.hops.value()?,
        ))
    }
}
