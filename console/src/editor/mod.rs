//! The automation editor's parts: the form read back into a document and the edits its
//! buttons make ([`doc`]), the inputs of each trigger and action ([`fields`]), the editor
//! drawn from a document with each error at its input ([`view`]), and its words ([`texts`]).
//! The pages are in `pages::editor`.

pub mod doc;
pub mod fields;
pub mod texts;
pub mod trial;
pub mod view;
