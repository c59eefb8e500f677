//! Enums written as an object with a `type` field (`{"type": "send_text", "text": "…"}`):
//! actions and triggers.
//!
//! serde's internally tagged enums buffer the whole object before reading it, which hides
//! where inside it an error is: a bad value deep in a `wait_for_reply`'s branch would be
//! reported at the action, not at `steps[1].action.branches[0].steps[2].action.text`.
//! [`type_tagged!`] declares such an enum with a reader that takes `type` first (as every
//! example and the console write it) and reads the rest of the object straight into the
//! variant's fields, so path tracking (`serde_path_to_error`) sees every key. An object
//! whose `type` comes later is buffered and read the same way, its errors named at the
//! object. Written out, the enum is serde's internally tagged form.

/// Declares `enum $name` with `type`-tagged variants: `Variant = "tag" { fields }`.
macro_rules! type_tagged {
    (
        $(#[$meta:meta])*
        $vis:vis enum $name:ident {
            $(
                $(#[$vmeta:meta])*
                $variant:ident = $tag:literal { $( $(#[$fmeta:meta])* $field:ident : $ty:ty ),* $(,)? }
            ),* $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(serde::Serialize)]
        #[serde(tag = "type")]
        $vis enum $name {
            $(
                $(#[$vmeta])*
                #[serde(rename = $tag)]
                $variant { $( $(#[$fmeta])* $field: $ty ),* }
            ),*
        }

        const _: () = {
            use serde::de::{self, DeserializeSeed, MapAccess, Visitor};
            use std::fmt;

            // One struct per variant, named like it: what its fields read into.
            mod fields {
                #[allow(unused_imports)]
                use super::*;
                $(
                    #[derive(serde::Deserialize)]
                    #[serde(deny_unknown_fields)]
                    pub(super) struct $variant { $( $(#[$fmeta])* pub(super) $field: $ty ),* }
                )*
            }

            const VARIANTS: &[&str] = &[$($tag),*];

            fn read_variant<'de, D: serde::Deserializer<'de>>(tag: &str, fields: D) -> Result<$name, D::Error> {
                match tag {
                    $(
                        $tag => {
                            let fields::$variant { $($field),* } =
                                <fields::$variant as serde::Deserialize>::deserialize(fields)?;
                            Ok($name::$variant { $($field),* })
                        }
                    )*
                    _ => unreachable!("tags are checked against VARIANTS first"),
                }
            }

            /// The value of `type`: one of [`VARIANTS`].
            struct TypeName;

            impl<'de> DeserializeSeed<'de> for TypeName {
                type Value = &'static str;

                fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<&'static str, D::Error> {
                    d.deserialize_str(self)
                }
            }

            impl<'de> Visitor<'de> for TypeName {
                type Value = &'static str;

                fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                    f.write_str("a type name")
                }

                fn visit_str<E: de::Error>(self, tag: &str) -> Result<&'static str, E> {
                    VARIANTS.iter().copied().find(|v| *v == tag).ok_or_else(|| E::unknown_variant(tag, VARIANTS))
                }
            }

            struct TypeFirst;

            impl<'de> Visitor<'de> for TypeFirst {
                type Value = $name;

                fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                    f.write_str("an object with a `type`")
                }

                fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<$name, A::Error> {
                    let first: Option<std::borrow::Cow<'de, str>> = map.next_key()?;
                    if first.as_deref() == Some("type") {
                        let tag = map.next_value_seed(TypeName)?;
                        return read_variant(tag, de::value::MapAccessDeserializer::new(map));
                    }
                    // `type` comes later: read the whole object, then its variant.
                    let mut object = serde_json::Map::new();
                    if let Some(key) = first {
                        object.insert(key.into_owned(), map.next_value()?);
                        while let Some((key, value)) = map.next_entry::<String, serde_json::Value>()? {
                            object.insert(key, value);
                        }
                    }
                    let tag = match object.remove("type") {
                        Some(serde_json::Value::String(tag)) => TypeName.visit_str::<A::Error>(&tag)?,
                        Some(other) => {
                            return Err(de::Error::invalid_type(de::Unexpected::Other(&other.to_string()), &TypeName));
                        }
                        None => return Err(de::Error::missing_field("type")),
                    };
                    read_variant(tag, serde_json::Value::Object(object)).map_err(de::Error::custom)
                }
            }

            impl<'de> serde::Deserialize<'de> for $name {
                fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                    d.deserialize_map(TypeFirst)
                }
            }
        };
    };
}

pub(crate) use type_tagged;
