//! The dispatcher: routes each app action to its bot's upstream and each
//! answer back to the one app that asked.
