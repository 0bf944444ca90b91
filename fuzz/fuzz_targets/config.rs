//! broker.conf: Java properties text, then every key applied to a broker config. Whatever is
//! accepted must also print and parse back to the same config.
#![no_main]

use broker::config::{parse_properties, MemoryCost};
use broker::BrokerConfig;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let props = parse_properties(&text);
    let mut config = BrokerConfig::default();
    if config.apply(&props).is_ok() {
        for free_pages_reported_to_host in [false, true] {
            let _ = config.store_config_for(MemoryCost { free_pages_reported_to_host, total_memory_bytes: 8 << 30 });
        }
        let printed = config.to_properties();
        let mut again = BrokerConfig::default();
        again.apply(&parse_properties(&printed)).expect("a printed config parses");
        assert_eq!(again.to_properties(), printed);
    }
});
