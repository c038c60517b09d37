/**
 * The English catalogue: the source of keys. Every other catalogue is typed as `Catalogue`, so a
 * missing or extra key is a compile error. `{name}` marks a value filled in at run time; an object
 * is a plural message chosen by Intl.PluralRules from `{count}` (`other` is required, the other
 * categories are the ones the language uses).
 */
export const en = {
  // Sign-in
  'signIn.hint': 'Chat and call the people in your rooms.',
  'signIn.name': 'Your name',
  'signIn.invalidName': 'Use 1–32 letters, digits, spaces, dots, dashes or underscores.',
  'signIn.useSuggestion': 'Use “{name}”',
  'signIn.submit': 'Sign in',
  'signIn.submitting': 'Signing in…',
  'settings.language': 'Language',

  // Connection status
  'status.connected': 'Connected',
  'status.connecting': 'Connecting…',
  'status.reconnecting': 'Reconnecting…',
  'status.reconnectingIn': {
    one: 'Reconnecting in {count} second',
    other: 'Reconnecting in {count} seconds',
  },
  'status.offline': 'Offline',
  'status.disconnected': 'Disconnected',
  'status.replaced': 'This session was opened in another tab or window.',
  'status.unreachable': 'Cannot reach the server.',
  'status.retryNow': 'Retry now',

  // Navigation and rooms
  'nav.roomsAndPeople': 'Rooms and people',
  'nav.rooms': 'Rooms',
  'nav.unread': { one: '{count} unread message', other: '{count} unread messages' },
  'nav.joinLabel': 'Create or join a room',
  'nav.roomPlaceholder': 'room-name',
  'nav.join': 'Join',
  'nav.roomInvalid': 'Room names are 1–32 characters: a–z, 0–9, - and _.',
  'nav.joinFailed': 'Could not join #{room}: {reason}',
  'nav.directMessages': 'Direct messages',
  'nav.people': 'People in #{room}',
  'nav.peopleCount': { one: '{count} person', other: '{count} people' },
  'member.you': '(you)',
  'member.message': 'Message {name}',
  'member.messageShort': 'Message',
  'member.voiceCall': 'Voice call {name}',
  'member.voiceCallShort': 'Voice call',
  'member.videoCall': 'Video call {name}',
  'member.videoCallShort': 'Video call',
  'presence.online': 'online',
  'presence.away': 'away',
  'presence.inCall': 'in a call',

  // Chat
  'chat.dmTitle': 'Direct messages with {name}',
  'chat.leave': 'Leave',
  'chat.loading': 'Loading…',
  'chat.loadOlder': 'Load older messages',
  'chat.beginning': 'Beginning of the conversation',
  'chat.messageLabel': 'Message {target}',
  'chat.offlinePlaceholder': 'Offline: messages will be sent on reconnect',
  'chat.send': 'Send',
  'chat.sending': 'sending…',
  'chat.notSent': 'Not sent.',
  'chat.notSentBecause': 'Not sent: {reason}',
  'chat.retry': 'Retry',

  // Errors from the server, by code (the server's own text is English and for logs)
  'error.bad_json': 'The server could not read what the app sent.',
  'error.unknown_type': 'The server did not understand the request.',
  'error.bad_frame': 'The server refused the request as invalid.',
  'error.frame_too_large': 'That is too large to send.',
  'error.rate_limited': 'Too many messages too fast. Wait a moment and try again.',
  'error.unsupported_version': 'This app is too old or too new for the server. Reload the page.',
  'error.not_signed_in': 'You are not signed in.',
  'error.already_signed_in': 'You are already signed in.',
  'error.name_taken': 'Someone here already uses that name.',
  'error.resume_failed': 'Your session expired; sign in again.',
  'error.not_in_room': 'You are not in that room.',
  'error.room_limit': 'You are in as many rooms as allowed. Leave one first.',
  'error.user_not_found': 'That person is not here any more.',
  'error.call_self': 'You cannot call yourself.',
  'error.already_in_call': 'You are already in a call.',
  'error.call_not_found': 'That call is over.',
  'error.call_state': 'The call is not ready for that yet.',
  'error.not_supported': 'Their app cannot do that.',
  'error.internal': 'The server had a problem. Try again.',

  // Calls
  'call.with': 'Call with {name}',
  'call.someone': 'someone',
  'call.startingCamera': 'Starting camera…',
  'call.ringing': 'Ringing {name}…',
  'call.calling': 'Calling {name}…',
  'call.cancel': 'Cancel',
  'call.close': 'Close',
  'call.incomingVideo': '{name} is calling (video)',
  'call.incomingVoice': '{name} is calling (voice)',
  'call.acceptVideo': 'Accept with video',
  'call.acceptVoice': 'Accept voice only',
  'call.decline': 'Decline',
  'call.connecting': 'Connecting to {name}…',
  'call.reconnecting': 'Reconnecting…',
  'call.peerMuted': '{name} is muted.',
  'call.peerCameraOff': "{name}'s camera is off.",
  'call.signalingLost': '(server connection lost; the call continues directly)',
  'call.mute': 'Mute',
  'call.unmute': 'Unmute',
  'call.cameraOff': 'Camera off',
  'call.cameraOn': 'Camera on',
  'call.hangUp': 'Hang up',
  'call.notConnected': 'Not connected to the server; try again when it is back.',
  'call.setupProblem': 'Connection setup problem: {detail}',
  'ended.declined': 'Declined',
  'ended.busy': 'Busy: they are in another call',
  'ended.cancelled': 'Call cancelled',
  'ended.timeout': 'No answer',
  'ended.hangup': 'Call ended',
  'ended.disconnected': 'Call ended: the connection was lost',
  'ended.unavailable': 'They are not available',
  'ended.error': 'Call failed',

  // Camera and microphone problems
  'media.notFound.camera': 'No camera was found. Connect one and try again.',
  'media.notFound.microphone': 'No microphone was found. Connect one and try again.',
  'media.denied.camera':
    'Permission to use the camera was denied. Allow it in the browser’s site settings (the icon left of the address), then try again.',
  'media.denied.microphone':
    'Permission to use the microphone was denied. Allow it in the browser’s site settings (the icon left of the address), then try again.',
  'media.busy.camera': 'The camera is busy or failed to start. Close other apps or tabs using it and try again.',
  'media.busy.microphone':
    'The microphone is busy or failed to start. Close other apps or tabs using it and try again.',
  'media.insecure': 'This page cannot use the camera or microphone: it needs HTTPS (or localhost).',
  'media.other.camera': 'The camera could not be used ({code}).',
  'media.other.microphone': 'The microphone could not be used ({code}).',
  'media.voiceOnly': 'The call is voice only.',
  'media.receiveOnly': 'You can still hear the other side.',

  // Devices
  'devices.button': 'Devices',
  'devices.camera': 'Camera',
  'devices.microphone': 'Microphone',
  'devices.speaker': 'Speaker',
  'devices.default': 'System default',
  'devices.unnamed.camera': 'Camera {n}',
  'devices.unnamed.microphone': 'Microphone {n}',
  'devices.unnamed.speaker': 'Speaker {n}',
  'devices.fallback': 'The device you chose last time is not connected; using another one.',
  'devices.switchFailed': 'Could not switch devices. {reason}',

  // Call statistics
  'stats.button': 'Stats',
  'stats.title': 'Call statistics',
  'stats.waiting': 'Collecting statistics…',
  'stats.bitrate': 'Bitrate',
  'stats.bitrateValue': 'in {in} · out {out}',
  'stats.kbps': '{value} kbit/s',
  'stats.rtt': 'Round-trip time',
  'stats.ms': '{value} ms',
  'stats.loss': 'Packet loss',
  'stats.lostPackets': { one: '{count} packet lost', other: '{count} packets lost' },
  'stats.videoIn': 'Video received',
  'stats.videoOut': 'Video sent',
  'stats.fps': '{value} fps',
  'stats.codecs': 'Codecs',
  'stats.path': 'Connection path',
  'stats.direct': 'direct',
  'stats.relayed': 'relayed through a TURN server',
  'stats.none': 'none',
} as const satisfies Record<string, Message>;

/** A plural message: one text per Intl.PluralRules category the language uses. */
export type Plural = Partial<Record<Intl.LDMLPluralRule, string>> & { other: string };
export type Message = string | Plural;
export type Key = keyof typeof en;
/** What a translation must provide: every English key, a string where English has a string. */
export type Catalogue = { [K in Key]: (typeof en)[K] extends string ? string : Plural };
