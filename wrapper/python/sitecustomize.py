# placeholder until the Python interceptors land
