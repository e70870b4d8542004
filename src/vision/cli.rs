//! `wardgate enroll` and `wardgate identify`: photos in, templates or matches out.
