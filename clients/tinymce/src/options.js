// The plugin's options: the signatures of Tiny's retired RTC plugin (docs/protocol.md).

const fn = { processor: 'function' };

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

export function readOptions(editor) {
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
