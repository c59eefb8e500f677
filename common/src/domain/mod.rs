//! Domain types, parsed at the edge: once a value has one of these types it is valid.

pub mod automation;
pub mod contact;
pub mod duration;
pub mod ids;
pub mod interpolate;
pub mod path;
pub mod phone;
pub mod phrase;
pub mod run;
pub mod send;
mod tagged;
pub mod workspace;

pub use automation::{Action, Automation, Button, SetFieldSource, Step, Trigger};
pub use contact::Contact;
pub use duration::Duration;
pub use ids::{AutomationId, FieldKey, Language, ListName, Operator, RunId, Tag, TemplateName, Wamid, WorkspaceId};
pub use interpolate::Interpolated;
pub use path::{Branch, StepPath};
pub use phone::{Bsuid, ContactKey, WaId};
pub use phrase::Phrase;
pub use run::{Run, RunStatus, StepRecord, StepStatus};
pub use workspace::{Holiday, Template, TemplateStatus, Workspace};
