"""The Zalo OA channel: signatures, events, rendering, the API client, its tokens, and echoes of our sends."""
