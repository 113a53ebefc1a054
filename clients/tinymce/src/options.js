// The plugin's options: the signatures of Tiny's retired RTC plugin (docs/protocol.md).

/** @typedef {import('tinymce').Editor} Editor */
/** @typedef {import('./protocol-client.js').TokenProvider} TokenProvider */
/** @typedef {import('./protocol-client.js').EncryptionProvider} EncryptionProvider */
/**
 * What a client event (rtc_client_connected, rtc_client_disconnected) says of a client.
 * @typedef {object} ClientPayload
 * @property {string} userId
 * @property {UserDetails} userDetails
 * @property {string} clientId
 * @property {number | undefined} caretNumber
 * @property {Record<string, unknown>} clientInfo
 */
/** @typedef {{fullName?: string, [field: string]: unknown}} UserDetails */
/**
 * The plugin's options (their rtc_* names in readOptions), as the integrator gave them:
 * unchecked, the plugin checks the ones it requires.
 * @typedef {object} RtcOptions
 * @property {string | undefined} documentId
 * @property {TokenProvider | undefined} tokenProvider
 * @property {EncryptionProvider | undefined} encryptionProvider
 * @property {string | undefined} serverUrl
 * @property {string | undefined} apiKey
 * @property {((arg: {documentId: string}) => unknown) | undefined} initialContentProvider resolves to {content}
 * @property {((arg: {documentId: string, version: number, getContent: () => string}) => void) | undefined} snapshot
 * @property {((arg: {userId: string}) => unknown) | undefined} userDetailsProvider resolves to UserDetails
 * @property {Record<string, unknown>} clientInfo
 * @property {((client: ClientPayload) => void) | undefined} clientConnected
 * @property {((client: ClientPayload) => void) | undefined} clientDisconnected
 * @property {((info: {reason: string, message: string}) => void) | undefined} serverDisconnected
 * @property {boolean} unsupportedNotification
 * @property {boolean} offline
 */

/** @type {{processor: 'function'}} */
const fn = { processor: 'function' };

/**
 * @param {Editor} editor
 * @param {string} defaultServerUrl
 */
export function registerOptions(editor, defaultServerUrl) {
  const register = editor.options.register;
  register('rtc_document_id', { processor: 'string' });
  register('rtc_token_provider', fn);
  register('rtc_encryption_provider', fn);
  register('rtc_server_url', { processor: 'string', default: defaultServerUrl || '' });
  register('rtc_api_key', { processor: 'string', default: '' });
  register('rtc_initial_content_provider', fn);
  register('rtc_snapshot', fn);
  register('rtc_user_details_provider', fn);
  register('rtc_client_info', { processor: 'object', default: {} });
  register('rtc_client_connected', fn);
  register('rtc_client_disconnected', fn);
  register('rtc_server_disconnected', fn);
  register('rtc_unsupported_content_notification', { processor: 'boolean', default: true });
  // keep a copy on this device (IndexedDB) so edits survive going offline, a reload, a restart
  register('rtc_offline', { processor: 'boolean', default: true });
}

/**
 * @param {Editor} editor
 * @returns {RtcOptions}
 */
export function readOptions(editor) {
  /** @param {string} name */
  const get = (name) => editor.options.get(name);
  return {
    documentId: get('rtc_document_id'),
    tokenProvider: get('rtc_token_provider'),
    encryptionProvider: get('rtc_encryption_provider'),
    serverUrl: get('rtc_server_url'),
    apiKey: get('rtc_api_key'),
    initialContentProvider: get('rtc_initial_content_provider'),
    snapshot: get('rtc_snapshot'),
    userDetailsProvider: get('rtc_user_details_provider'),
    clientInfo: get('rtc_client_info') || {},
    clientConnected: get('rtc_client_connected'),
    clientDisconnected: get('rtc_client_disconnected'),
    serverDisconnected: get('rtc_server_disconnected'),
    unsupportedNotification: get('rtc_unsupported_content_notification') !== false,
    offline: get('rtc_offline') !== false,
  };
}
