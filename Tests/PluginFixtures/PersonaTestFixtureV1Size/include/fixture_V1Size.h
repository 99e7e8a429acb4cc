/* Nothing public: the library exports persona_plugin_entry only. */
