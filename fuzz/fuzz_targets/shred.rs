//! `ShredView::parse` and every derived field (Turbine, repair responses).
#![no_main]
use dataplane::shred::ShredView;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    if let Ok(view) = ShredView::parse(bytes) {
        let _ = (
            view.merkle_root(),
            view.payload(),
            view.chained_root(),
            view.parent(),
        );
        let _ = (view.data_header(), view.coding_header(), view.leaf_index());
        assert_eq!(&view.bytes()[..], bytes);
    }
});
