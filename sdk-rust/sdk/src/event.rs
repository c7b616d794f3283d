//! App events (implemented by `#[app::event]`).

/// An event an app emits: `kind` is the variant name, `data` the JSON of its content.
pub trait AppEvent {
    /// The variant name.
    fn kind(&self) -> String;
    /// The JSON of the variant's content (empty for a unit variant).
    fn data(&self) -> Vec<u8>;
}
