// Package window keeps, for every user of every business number, the
// customer service window and the opt-in state, shared by every wabridge
// instance through two compacted Kafka topics, and decides before a send
// whether WhatsApp's rules allow it, instead of learning it from the API's
// error 131047 after a round trip.
//
// # The rules
//
// Every message a user sends, and every call a user places (the connect
// event of a user-initiated call, see inbound/call.go), opens or refreshes a
// 24-hour customer service window with the business number it was sent to.
// Inside it any message may be sent; outside it only templates
// (https://developers.facebook.com/docs/whatsapp/cloud-api/guides/send-messages#customer-service-windows).
// A business must also hold the user's opt-in before business-initiated
// (template) messaging; the API does not check that, so wabridge can.
//
//   - Window (Decide, Config.WindowMode, default enforce): a free-form
//     (non-template) message to a user whose window is closed or unknown is
//     rejected with reason outside_customer_service_window and the window's
//     state in the details. Templates always pass. Mode warn sends and
//     reports the reason; off does nothing.
//   - Opt-in (DecideOptIn, Config.OptInMode, default off, since many
//     businesses collect opt-in outside WhatsApp): under enforce, a template
//     to a user with no recorded opt-in is rejected with no_opt_in, one to a
//     user who opted out of its category with opted_out. A marketing
//     template to a user who opted out of marketing (or of everything) is
//     rejected with opted_out in every mode. Free-form messages are not
//     checked against the registry: they only go out inside a window the
//     user opened (an answer to "STOP" is allowed).
//   - A template's category comes from the template catalogue, which does
//     not exist yet: until then the outbound side passes the command header
//     template-category (MARKETING, UTILITY, AUTHENTICATION, any case). A
//     template without it is not treated as marketing.
//   - Mark-as-read and typing-indicator bodies are not messages: not checked.
//
// # Clock skew and races
//
// The window's start is WhatsApp's timestamp of the user's message (whole
// seconds, capped at the receiving instance's clock); its end is compared
// with this instance's clock. A window counts as closed Config.Grace
// (default 60 s) before WhatsApp closes it, which absorbs clock skew between
// hosts and WhatsApp and the time a command spends between the check and the
// API call (queueing, the rate limiter, a first retry). A message sent in
// the grace period gets outside_customer_service_window with a note saying
// so.
//
// A command that answers a user's message usually arrives a few
// milliseconds after that message, possibly at another instance. Two
// mechanisms make that safe:
//
//   - Catch-up before a rejection: Check does not reject on a stale view. When
//     a free-form message finds its window closed, Check first lists the end
//     offsets of both topics and waits until this instance has applied
//     everything up to them (Sync, one round trip, shared by concurrent
//     callers). Since the inbound side writes the window record (acks=all)
//     before it publishes the message event, a command produced by someone
//     who read that event is checked against a state that includes the
//     window. Templates that a rule can stop (marketing ones; all under
//     opt-in enforce) catch up the same way before the decision, so an
//     opt-out acknowledged before the check began is always honoured.
//     Allowing on a stale view costs at most one 131047 from the API, which
//     then marks the window closed (Closed). If Kafka does not answer within
//     Config.SyncTimeout (2 s), Check decides on what it has and logs so.
//   - Waiting: a command may carry the header window-wait (a Go duration,
//     "5s", or milliseconds) to wait up to that long (at most
//     Config.MaxWait, default 30 s) for its window to open before it is
//     rejected: WaitOpen wakes as soon as the follower applies a record
//     that opens the window. For producers that send before the user's
//     message reached wabridge at all (a reply to a message seen on another
//     channel).
//
// # Window records
//
// Topic wabridge.windows (Config.WindowTopic), key "<phone_number_id>|<user>"
// (Key: the user is the wa_id's digits or the business-scoped user id;
// write both when a message carries both), JSON value (WindowValue):
//
//	{"last_inbound_at":1760000000000,"closed_at":1760000050000,"by":"wb-3f9a1c2e"}
//
// last_inbound_at: Unix ms of the user's last message; closed_at: Unix ms
// of a 131047 from the API (the window is closed until a message newer than
// it); by: the instance that wrote it. Either time may be absent. A Store
// merges records by taking the later of each time, so records may arrive in
// any order, from any partition, any number of times: the result is the
// same. Only wabridge writes this topic.
//
// Expiry. Nothing about a window matters 24 h after the later of its two
// times. Such records are never loaded; a loaded window is dropped from
// memory when a lookup finds it expired and by the sweep (every
// Config.SweepInterval). The instance whose record is a window's newest
// writes its tombstone when it expires (others drop it silently), so
// compaction removes it. If a tombstone or an older state overwrites a live
// window (another instance's clock, a late webhook), the instance that owns
// the window writes it again ("heal"), so the compacted topic always ends
// in the live state.
//
// Topic configuration (EnsureTopics creates it so):
// cleanup.policy=compact,delete, retention.ms=48h, segment.ms=1h,
// delete.retention.ms=1h. Deleting by time is safe for this topic although
// keys are rewritten daily: a record never matters more than 24 h after it
// was written (its window ended; a window that a later message refreshed
// has a later record, in a later segment), so time retention only ever
// removes dead records. It bounds the topic to about two days of writes
// even when no live instance tombstoned a window (the owner restarted: a
// restarted process is a new instance). segment.ms=1h lets compaction and
// retention act on closed segments within an hour.
//
// # Opt-in records
//
// Topic wabridge.optin (Config.OptinTopic), cleanup.policy=compact only:
// consent never expires with time. Key "<phone_number_id>|<user>", the user
// as Key writes it: a phone number as its digits only (the wa_id), a
// business-scoped user id as it is. A key such as "<number>|+1 555 000
// 1111" is skipped as invalid (logged, and counted in
// wabridge_window_records_invalid_total). Consent
// is per business number, not global per user. One deployment can serve
// numbers of different businesses, consent is given to a business, and
// WhatsApp's STOP keywords and user_preferences events arrive on one
// number; a platform that collects consent for all its numbers writes one
// record per number. JSON value (ConsentValue), written by wabridge
// (keywords, user_preferences, wabridge optin add|remove) and by the
// platform's own producers:
//
//	{"opted_in":true,"categories":{"marketing":false},"source":"web-form","at":1760000000000}
//
// The fields and rules:
//
//   - opted_in: true (agreed to business-initiated messages), false (opted
//     out), absent (not known).
//   - categories: optional overrides per template category, lower case:
//     "marketing", "utility", "authentication" (marketing_lite and
//     group_marketing count as marketing). With opted_in true,
//     {"marketing":false} is "everything but marketing"; {"marketing":true}
//     without opted_in is "marketing only": the categories not listed take
//     opted_in's answer, not known when it is absent.
//   - source: free text, e.g. "web-form", "keyword:STOP",
//     "user_preferences:stop", "cli".
//   - at: when the user decided, Unix ms (absent: the record's timestamp).
//   - A record replaces the previous one of its key: write the whole state,
//     not a change. The newer decision wins, not the later record: a record
//     whose at is older (in whole seconds) than the state it would replace
//     is ignored, and every instance that follows the topic writes the newer
//     state again (source "kept-newer") so that compaction keeps it. A
//     tombstone (null value) forgets the user (unknown again); an opt-out
//     must be written as opted_in false, not as a tombstone.
//   - Produce with the key as bytes and the default (murmur2) partitioner,
//     as Java clients and wabridge do, so a key's records share a partition.
//     Transactional producers are fine.
//
// Keywords (Matcher, Config.Keywords): an inbound text that is exactly one
// keyword, ignoring case and surrounding or repeated whitespace, opts the
// user out (default STOP, UNSUBSCRIBE, STOPP, ARRET, ARRÊT, BAJA, PARAR,
// SAIR) or in (START, UNSTOP, ALTA) for that business number. Meta's
// user_preferences events (value stop / resume / signup of
// marketing_messages, §11.2) stop or resume marketing only (UserPreference).
//
// # Memory
//
// A window is 8 bytes of state under an 8-byte hash of its key (maphash,
// seeded per process); with the map's own overhead a million windows take
// about 38 MB. Windows an instance wrote itself also keep their key (about
// 57 bytes more each) so that it can tombstone them. The hash replaces the
// key: two keys share a window only if their 64-bit hashes collide, with
// probability about n²/2⁶⁵ for n windows (3·10⁻⁸ for a million, 3·10⁻⁴ for
// a hundred million); the worst outcome is one free-form message that the
// API refuses (131047). The seed is random per process, so collisions cannot
// be provoked and do not repeat after a restart. Consents take the same
// 8 + 8 bytes (categories other than marketing cost a small map more).
// Memory follows the live windows and the users with a consent record,
// never the history: a restore reads every record but keeps one entry per
// key.
//
// # Use
//
//	s, err := window.New(window.Config{Brokers: brokers, Logger: log})
//	err = s.EnsureTopics(ctx)               // when wabridge creates topics
//	go s.Run(ctx)                           // restore, then follow and sweep
//	err = s.WaitReady(ctx)                  // before the first Check
//	err = s.Inbound(ctx, window.Inbound{Number: pnID, Users: []string{waID, bsuid}, At: ts, Text: body})
//	d := s.Check(ctx, window.Message{Number: pnID, User: to, Template: isTemplate, Category: cat, Wait: wait})
//	err = s.Closed(ctx, pnID, to, time.Now()) // after a 131047
//	s.Close()                               // after Run returned
package window
