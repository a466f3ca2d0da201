//! How a handler extracts an operation's inputs, as the input emitters
//! build it up: the trait method's arguments and the handler's steps.

use proc_macro2::TokenStream;

/// What the handler and the trait method need to know of the inputs.
pub(super) struct Inputs {
    /// The trait method's arguments after the principal.
    pub args: Vec<TokenStream>,
    /// The handler's statements extracting each input (collecting violations).
    pub extract: Vec<TokenStream>,
    /// The variables `extract` binds to an `Option` of each input.
    pub bound: Vec<syn::Ident>,
    /// The values passed to the trait method after the principal.
    pub call_args: Vec<TokenStream>,
    pub uses_body: bool,
    /// The WebSocket handshake, checked once the request is admissible.
    pub upgrade_step: Option<TokenStream>,
}
