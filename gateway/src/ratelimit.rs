//! Request rate limits per access key and per tenant (governor's GCRA).

use std::num::NonZeroU32;

use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::config::RateLimitConfig;

/// Two keyed limiters: one per access key, one per tenant. A request must pass both.
pub struct RateLimits {
    per_key: DefaultKeyedRateLimiter<String>,
    per_tenant: DefaultKeyedRateLimiter<String>,
}

fn quota(per_second: u32, burst: u32) -> Quota {
    let rate = NonZeroU32::new(per_second.max(1)).unwrap_or(NonZeroU32::MIN);
    let burst = NonZeroU32::new(burst.max(1)).unwrap_or(NonZeroU32::MIN);
    Quota::per_second(rate).allow_burst(burst)
}

impl RateLimits {
    /// Limiters as configured.
    pub fn new(config: &RateLimitConfig) -> RateLimits {
        RateLimits {
            per_key: RateLimiter::keyed(quota(config.per_key_per_second, config.per_key_burst)),
            per_tenant: RateLimiter::keyed(quota(
                config.per_tenant_per_second,
                config.per_tenant_burst,
            )),
        }
    }

    /// Whether one more request from this key and tenant is allowed now.
    pub fn allow(&self, access_key: &str, tenant_id: &str) -> bool {
        self.per_key.check_key(&access_key.to_string()).is_ok()
            && self.per_tenant.check_key(&tenant_id.to_string()).is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bursts_are_cut_per_key_and_per_tenant() {
        let config = RateLimitConfig {
            per_key_per_second: 1,
            per_key_burst: 3,
            per_tenant_per_second: 1,
            per_tenant_burst: 5,
        };
        let limits = RateLimits::new(&config);
        let allowed = (0..10).filter(|_| limits.allow("k1", "t1")).count();
        assert_eq!(allowed, 3);
        // A second key of the same tenant gets the tenant's remaining 2.
        let allowed = (0..10).filter(|_| limits.allow("k2", "t1")).count();
        assert_eq!(allowed, 2);
        assert!(limits.allow("k3", "t2"));
    }
}
